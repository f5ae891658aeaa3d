package dev.lattice.trainer.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * A named, dense, row-major float tensor.
 *
 * <p>The arrays are shared, not copied: whoever builds a tensor hands its arrays over. {@link #equals} and
 * {@link #hashCode} compare contents (floats by bit pattern, as {@link Arrays#equals(float[], float[])} does), so two
 * tensors with the same name, shape and values are equal.
 *
 * @param name  the tensor's name (non-empty)
 * @param shape dimensions, outermost first; {@code []} is a scalar holding one value
 * @param data  the values, row-major; its length is the product of {@code shape}
 */
public record NamedTensor(String name, int[] shape, float[] data) {

    public NamedTensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(shape, "shape of " + name);
        Objects.requireNonNull(data, "data of " + name);
        if (name.isEmpty()) {
            throw new IllegalArgumentException("tensor name must not be empty");
        }
        long n = numel(shape, name);
        if (n != data.length) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " holds "
                    + n + " values but " + data.length + " were given");
        }
    }

    /** A tensor of the given shape filled with zeros. */
    public static NamedTensor zeros(String name, int... shape) {
        return new NamedTensor(name, shape.clone(), new float[Math.toIntExact(numel(shape, name))]);
    }

    /** The same values under another name. */
    public NamedTensor withName(String newName) {
        return new NamedTensor(newName, shape, data);
    }

    /** Number of values (product of the shape). */
    public int numel() {
        return data.length;
    }

    /** Product of the dimensions, checked for negative dimensions and overflow. */
    public static long numel(int[] shape, String name) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': negative dimension in shape "
                        + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NamedTensor t && name.equals(t.name) && Arrays.equals(shape, t.shape)
                && Arrays.equals(data, t.data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "NamedTensor[" + name + " " + Arrays.toString(shape) + "]";
    }
}
