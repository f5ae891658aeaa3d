package dev.lattice.data.indexed;

import java.util.Arrays;

/** Primitive growable arrays; boxing millions of sequence lengths into lists would dominate writer memory. */
final class GrowableArrays {

    private GrowableArrays() {
    }

    static final class Ints {
        private int[] data = new int[1024];
        private int size;

        void add(int v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, data.length * 2);
            }
            data[size++] = v;
        }

        int size() {
            return size;
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }

    static final class Longs {
        private long[] data = new long[1024];
        private int size;

        void add(long v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, data.length * 2);
            }
            data[size++] = v;
        }

        int size() {
            return size;
        }

        long last() {
            return data[size - 1];
        }

        long[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
