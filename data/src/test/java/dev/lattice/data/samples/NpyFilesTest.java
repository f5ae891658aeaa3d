package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed fixtures were written by numpy 2.4.6:
 *
 * <pre>{@code
 * np.save('int32_1d.npy', np.array([3, -1, 7, 2147483647, -2147483648], dtype=np.int32))
 * np.save('int32_rows.npy', np.array([[0, 0], [0, 4], [2, 0], [2, 4]], dtype=np.int32))
 * np.save('uint32_1d.npy', np.array([2, 0, 3, 1], dtype=np.uint32))
 * np.save('int64_rows.npy', np.array([[0, 0], [1, 5], [2, 9]], dtype=np.int64))
 * np.save('int16_1d.npy', np.array([1, 0, 1, 1, 0], dtype=np.int16))
 * np.save('int32_empty.npy', np.array([], dtype=np.int32))
 * }</pre>
 */
class NpyFilesTest {

    @TempDir
    Path tmp;

    private Path fixture(String name) throws URISyntaxException {
        return Path.of(getClass().getResource(name).toURI());
    }

    @Test
    void readsFilesNumpyWrote() throws Exception {
        assertArrayEquals(new int[] {3, -1, 7, Integer.MAX_VALUE, Integer.MIN_VALUE},
                NpyFiles.readInts(fixture("int32_1d.npy"), -1));
        assertArrayEquals(new int[] {0, 0, 0, 4, 2, 0, 2, 4}, NpyFiles.readInts(fixture("int32_rows.npy"), -1, 2));
        assertArrayEquals(new int[] {2, 0, 3, 1}, NpyFiles.readInts(fixture("uint32_1d.npy"), 4));
        assertArrayEquals(new long[] {0, 0, 1, 5, 2, 9}, NpyFiles.readLongs(fixture("int64_rows.npy"), 3, 2));
        assertArrayEquals(new int[] {0, 0, 1, 5, 2, 9}, NpyFiles.readInts(fixture("int64_rows.npy"), -1, 2));
        assertArrayEquals(new int[] {1, 0, 1, 1, 0}, NpyFiles.readInts(fixture("int16_1d.npy"), -1));
        assertArrayEquals(new int[0], NpyFiles.readInts(fixture("int32_empty.npy"), 0));
        NpyFiles.Header h = NpyFiles.readHeader(fixture("int32_rows.npy"));
        assertEquals(NpyFiles.Dtype.INT32, h.dtype());
        assertArrayEquals(new long[] {4, 2}, h.shape());
        assertEquals(128, h.dataOffset());
    }

    @Test
    void writesByteIdenticalFilesToNumpySave() throws Exception {
        Path a = tmp.resolve("a.npy");
        NpyFiles.writeInts(a, NpyFiles.Dtype.INT32, new int[] {3, -1, 7, Integer.MAX_VALUE, Integer.MIN_VALUE}, 5);
        assertSameBytes(fixture("int32_1d.npy"), a);
        NpyFiles.writeInts(a, NpyFiles.Dtype.INT32, new int[] {0, 0, 0, 4, 2, 0, 2, 4}, 4, 2);
        assertSameBytes(fixture("int32_rows.npy"), a);
        NpyFiles.writeInts(a, NpyFiles.Dtype.UINT32, new int[] {2, 0, 3, 1}, 4);
        assertSameBytes(fixture("uint32_1d.npy"), a);
        NpyFiles.writeLongs(a, new long[] {0, 0, 1, 5, 2, 9}, 3, 2);
        assertSameBytes(fixture("int64_rows.npy"), a);
        NpyFiles.writeShorts(a, new short[] {1, 0, 1, 1, 0}, 5);
        assertSameBytes(fixture("int16_1d.npy"), a);
        NpyFiles.writeInts(a, NpyFiles.Dtype.INT32, new int[0], 0);
        assertSameBytes(fixture("int32_empty.npy"), a);
    }

    private static void assertSameBytes(Path expected, Path actual) throws IOException {
        assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(actual), actual + " vs " + expected);
    }

    @Test
    void numpyLoadsWhatWeWrite() throws Exception {
        PythonNumpy.assumeAvailable();
        Path rows = tmp.resolve("rows.npy");
        Path perm = tmp.resolve("perm.npy");
        Path big = tmp.resolve("big.npy");
        NpyFiles.writeInts(rows, NpyFiles.Dtype.INT32, new int[] {0, 0, 0, 4, 2, 0, 2, 4}, 4, 2);
        NpyFiles.writeInts(perm, NpyFiles.Dtype.UINT32, new int[] {2, 0, 3, 1}, 4);
        // Large enough for several write chunks; numpy checks every value via the weighted sum.
        long[] values = new long[300_000];
        long expectedSum = 0;
        for (int i = 0; i < values.length; i++) {
            values[i] = (long) i * 7_000_003L - 5;
            expectedSum += values[i] * (i % 7);
        }
        NpyFiles.writeLongs(big, values, values.length);
        String out = PythonNumpy.check(String.join("\n",
                "import sys, numpy as np",
                "a = np.load(sys.argv[1], mmap_mode='r'); b = np.load(sys.argv[2], mmap_mode='r')",
                "c = np.load(sys.argv[3], mmap_mode='r')",
                "w = (np.arange(len(c), dtype=np.int64) % 7)",
                "print(a.dtype.str, a.shape, a.tolist(), b.dtype.str, b.shape, b.tolist(), c.dtype.str, c.shape,"
                        + " int(np.sum(c * w)))"),
                rows.toString(), perm.toString(), big.toString());
        assertEquals("<i4 (4, 2) [[0, 0], [0, 4], [2, 0], [2, 4]] <u4 (4,) [2, 0, 3, 1] <i8 (300000,) "
                + expectedSum, out);
    }

    @Test
    void roundTripsLargeArraysAcrossChunks() throws Exception {
        int[] data = new int[700_001];
        for (int i = 0; i < data.length; i++) {
            data[i] = i * 31 - 1000;
        }
        Path f = tmp.resolve("big.npy");
        NpyFiles.writeInts(f, NpyFiles.Dtype.INT32, data, data.length);
        assertArrayEquals(data, NpyFiles.readInts(f, data.length));
    }

    @Test
    void errorsNameTheFile() throws Exception {
        Path f = tmp.resolve("rows.npy");
        NpyFiles.writeInts(f, NpyFiles.Dtype.INT32, new int[] {0, 0, 0, 4, 2, 0, 2, 4}, 4, 2);
        IOException e = assertThrows(IOException.class, () -> NpyFiles.readInts(f, -1));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("shape (4, 2)"), e.getMessage());

        byte[] bytes = Files.readAllBytes(f);
        Path truncated = tmp.resolve("truncated.npy");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 3));
        e = assertThrows(IOException.class, () -> NpyFiles.readInts(truncated, -1, 2));
        assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("truncated"),
                e.getMessage());

        Path headerOnly = tmp.resolve("header-only.npy");
        Files.write(headerOnly, Arrays.copyOf(bytes, 20));
        e = assertThrows(IOException.class, () -> NpyFiles.readHeader(headerOnly));
        assertTrue(e.getMessage().contains(headerOnly.toString()), e.getMessage());

        Path notNpy = tmp.resolve("text.npy");
        Files.writeString(notNpy, "hello, this is not numpy");
        e = assertThrows(IOException.class, () -> NpyFiles.readHeader(notNpy));
        assertTrue(e.getMessage().contains(notNpy.toString()) && e.getMessage().contains("magic"), e.getMessage());

        Path floats = tmp.resolve("floats.npy");
        byte[] patched = bytes.clone();
        String header = new String(patched, 0, 128, java.nio.charset.StandardCharsets.ISO_8859_1);
        int at = header.indexOf("<i4");
        patched[at + 1] = 'f';
        Files.write(floats, patched);
        e = assertThrows(IOException.class, () -> NpyFiles.readInts(floats, -1, 2));
        assertTrue(e.getMessage().contains(floats.toString()) && e.getMessage().contains("<f4"), e.getMessage());

        Path wide = tmp.resolve("wide.npy");
        NpyFiles.writeLongs(wide, new long[] {1L << 40}, 1);
        e = assertThrows(IOException.class, () -> NpyFiles.readInts(wide, 1));
        assertTrue(e.getMessage().contains(wide.toString()) && e.getMessage().contains("does not fit"),
                e.getMessage());

        assertThrows(IllegalArgumentException.class,
                () -> NpyFiles.writeInts(tmp.resolve("x.npy"), NpyFiles.Dtype.INT32, new int[3], 2, 2));
        assertThrows(IllegalArgumentException.class,
                () -> NpyFiles.writeInts(tmp.resolve("y.npy"), NpyFiles.Dtype.UINT32, new int[] {-1}, 1));
    }
}
