package dev.lattice.data.indexed;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A read-only memory map of a file of any size. A single {@link MappedByteBuffer} stops at 2 GiB, so the file is
 * mapped in 1 GiB windows that overlap by 8 bytes: every read of up to 8 bytes starting in a window lies wholly in
 * it, whatever the alignment (the {@code .idx} arrays start at byte 34).
 */
final class MappedFile implements Closeable {

    private static final int WINDOW_SHIFT = 30;
    private static final long WINDOW = 1L << WINDOW_SHIFT;
    private static final int OVERLAP = 8;

    private final MappedByteBuffer[] windows;
    private final long length;

    MappedFile(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            length = ch.size();
            int n = (int) Math.max(1, (length + WINDOW - 1) / WINDOW);
            windows = new MappedByteBuffer[n];
            for (int i = 0; i < n; i++) {
                long start = i * WINDOW;
                long size = Math.min(WINDOW + OVERLAP, length - start);
                windows[i] = ch.map(FileChannel.MapMode.READ_ONLY, start, Math.max(0, size));
                windows[i].order(ByteOrder.LITTLE_ENDIAN);
            }
        }
    }

    long length() {
        return length;
    }

    byte getByte(long pos) {
        return windows[(int) (pos >>> WINDOW_SHIFT)].get((int) (pos & (WINDOW - 1)));
    }

    short getShort(long pos) {
        return windows[(int) (pos >>> WINDOW_SHIFT)].getShort((int) (pos & (WINDOW - 1)));
    }

    int getInt(long pos) {
        return windows[(int) (pos >>> WINDOW_SHIFT)].getInt((int) (pos & (WINDOW - 1)));
    }

    long getLong(long pos) {
        return windows[(int) (pos >>> WINDOW_SHIFT)].getLong((int) (pos & (WINDOW - 1)));
    }

    @Override
    public void close() {
        // Mapped buffers are unmapped by the garbage collector; nothing to release eagerly.
    }
}
