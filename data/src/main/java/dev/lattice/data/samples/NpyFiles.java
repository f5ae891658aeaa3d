package dev.lattice.data.samples;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes NumPy {@code .npy} files for the integer arrays Megatron caches, so index files are interchangeable
 * with Megatron's: a file written here loads with {@code numpy.load(..., mmap_mode='r')}, and the reader accepts
 * files {@code numpy.save} wrote.
 *
 * <p>The writer produces byte-identical output to {@code numpy.save} (format 1.0): the magic, a little-endian uint16
 * header length, a Python-dict header with sorted keys, 21 - len(repr(shape[0])) spaces of growth room, padding so
 * the data starts on a 64-byte boundary, a newline, then the little-endian C-order data. The reader also accepts
 * format 2.0/3.0 headers (4-byte length) that numpy uses for very large headers.
 */
public final class NpyFiles {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;
    /** numpy's GROWTH_AXIS_MAX_DIGITS: header room so the first axis can grow in place. */
    private static final int GROWTH_AXIS_MAX_DIGITS = 21;
    private static final int CHUNK = 1 << 20;

    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order':\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /** The integer element types Megatron's index files use. */
    public enum Dtype {
        INT16("<i2", 2),
        INT32("<i4", 4),
        UINT32("<u4", 4),
        INT64("<i8", 8);

        private final String descr;
        private final int itemSize;

        Dtype(String descr, int itemSize) {
            this.descr = descr;
            this.itemSize = itemSize;
        }

        /** The numpy {@code descr} string, e.g. {@code <i4}. */
        public String descr() {
            return descr;
        }

        /** Bytes per element. */
        public int itemSize() {
            return itemSize;
        }

        /** The next element of {@code buf} (little-endian) as a long. */
        long read(ByteBuffer buf) {
            return switch (this) {
                case INT16 -> buf.getShort();
                case INT32 -> buf.getInt();
                case UINT32 -> Integer.toUnsignedLong(buf.getInt());
                case INT64 -> buf.getLong();
            };
        }

        static Dtype fromDescr(String descr) {
            for (Dtype d : values()) {
                // '|' or '=' byte order would only appear for 1-byte types or native order; accept '=' on LE hosts.
                if (d.descr.equals(descr) || ("=" + d.descr.substring(1)).equals(descr)) {
                    return d;
                }
            }
            return null;
        }
    }

    /**
     * A parsed header.
     *
     * @param dtype element type
     * @param shape dimensions (empty for a 0-d array)
     * @param dataOffset byte offset of the first element
     */
    public record Header(Dtype dtype, long[] shape, long dataOffset) {
        /** Number of elements. */
        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    private NpyFiles() {
    }

    /** The exact header bytes {@code numpy.save} writes for a C-order array (format 1.0). */
    static byte[] header(Dtype dtype, long[] shape) {
        StringBuilder dict = new StringBuilder();
        dict.append("{'descr': '").append(dtype.descr()).append("', 'fortran_order': False, 'shape': ")
                .append(shapeRepr(shape)).append(", }");
        if (shape.length > 0) {
            dict.append(" ".repeat(GROWTH_AXIS_MAX_DIGITS - Long.toString(shape[0]).length()));
        }
        int prefix = MAGIC.length + 2 + 2;
        int withNewline = dict.length() + 1;
        int pad = ALIGN - ((prefix + withNewline) % ALIGN);
        dict.append(" ".repeat(pad)).append('\n');
        byte[] text = dict.toString().getBytes(StandardCharsets.US_ASCII);
        if (text.length > 0xffff) {
            throw new IllegalArgumentException("npy header too long for format 1.0: " + text.length + " bytes");
        }
        ByteBuffer out = ByteBuffer.allocate(prefix + text.length).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) text.length).put(text);
        return out.array();
    }

    private static String shapeRepr(long[] shape) {
        // Python tuple repr: (), (5,), (5, 2).
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i]);
        }
        return sb.append(')').toString();
    }

    /**
     * Writes an int16, int32 or uint32 array (values taken from the low bits of each int; uint32 values are the
     * ints' unsigned reading).
     */
    public static void writeInts(Path file, Dtype dtype, int[] data, long... shape) throws IOException {
        if (dtype == Dtype.INT64) {
            throw new IllegalArgumentException("use writeLongs for int64 data");
        }
        checkShape(file, shape, data.length);
        try (FileChannel ch = openForWrite(file)) {
            writeFully(ch, ByteBuffer.wrap(header(dtype, shape)));
            ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (int v : data) {
                if (buf.remaining() < dtype.itemSize()) {
                    flush(ch, buf);
                }
                if (dtype == Dtype.INT16) {
                    if (v < Short.MIN_VALUE || v > Short.MAX_VALUE) {
                        throw new IllegalArgumentException(file + ": value " + v + " does not fit int16");
                    }
                    buf.putShort((short) v);
                } else {
                    if (dtype == Dtype.UINT32 && v < 0) {
                        throw new IllegalArgumentException(file + ": negative value " + v + " in a uint32 array");
                    }
                    buf.putInt(v);
                }
            }
            flush(ch, buf);
            ch.force(true);
        }
    }

    /** Writes an int64 array. */
    public static void writeLongs(Path file, long[] data, long... shape) throws IOException {
        checkShape(file, shape, data.length);
        try (FileChannel ch = openForWrite(file)) {
            writeFully(ch, ByteBuffer.wrap(header(Dtype.INT64, shape)));
            ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : data) {
                if (buf.remaining() < 8) {
                    flush(ch, buf);
                }
                buf.putLong(v);
            }
            flush(ch, buf);
            ch.force(true);
        }
    }

    /** Writes an int16 array. */
    public static void writeShorts(Path file, short[] data, long... shape) throws IOException {
        int[] widened = new int[data.length];
        for (int i = 0; i < data.length; i++) {
            widened[i] = data[i];
        }
        writeInts(file, Dtype.INT16, widened, shape);
    }

    /**
     * Parses the header of {@code file}.
     *
     * @throws IOException naming the file when it is not a readable little-endian, C-order integer .npy file or its
     *     size does not match the header (e.g. a truncated write)
     */
    public static Header readHeader(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(file, ch);
        }
    }

    private static Header readHeader(Path file, FileChannel ch) throws IOException {
        ByteBuffer start = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, ch, start, 0);
        start.flip();
        byte[] magic = new byte[MAGIC.length];
        start.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new IOException(file + ": not a .npy file (bad magic)");
        }
        int major = start.get() & 0xff;
        start.get();
        long headerLen;
        int prefix;
        if (major == 1) {
            headerLen = start.getShort() & 0xffff;
            prefix = 10;
        } else if (major == 2 || major == 3) {
            headerLen = start.getInt() & 0xffffffffL;
            prefix = 12;
        } else {
            throw new IOException(file + ": unsupported .npy format version " + major);
        }
        if (headerLen > (1 << 24)) {
            throw new IOException(file + ": implausible .npy header length " + headerLen);
        }
        ByteBuffer text = ByteBuffer.allocate((int) headerLen);
        readFully(file, ch, text, prefix);
        String dict = new String(text.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher descr = DESCR.matcher(dict);
        Matcher fortran = FORTRAN.matcher(dict);
        Matcher shapeM = SHAPE.matcher(dict);
        if (!descr.find() || !fortran.find() || !shapeM.find()) {
            throw new IOException(file + ": malformed .npy header " + dict.trim());
        }
        Dtype dtype = Dtype.fromDescr(descr.group(1));
        if (dtype == null) {
            throw new IOException(file + ": unsupported dtype '" + descr.group(1)
                    + "' (expected one of <i2, <i4, <u4, <i8)");
        }
        long[] shape = parseShape(file, shapeM.group(1));
        if (fortran.group(1).equals("True") && shape.length > 1) {
            throw new IOException(file + ": Fortran-order arrays are not supported");
        }
        Header h = new Header(dtype, shape, prefix + headerLen);
        long expected = h.dataOffset() + h.elementCount() * dtype.itemSize();
        long actual = ch.size();
        if (actual != expected) {
            throw new IOException(file + ": size " + actual + " bytes does not match its header (dtype "
                    + dtype.descr() + ", shape " + shapeRepr(shape) + " needs " + expected
                    + " bytes); the file is truncated or corrupt");
        }
        return h;
    }

    private static long[] parseShape(Path file, String inner) throws IOException {
        String[] parts = inner.split(",");
        long[] dims = new long[parts.length];
        int n = 0;
        for (String p : parts) {
            String t = p.trim();
            if (t.isEmpty()) {
                continue;
            }
            // Older numpy wrote shapes like (5L,) on Python 2.
            if (t.endsWith("L")) {
                t = t.substring(0, t.length() - 1);
            }
            try {
                dims[n++] = Long.parseLong(t);
            } catch (NumberFormatException e) {
                throw new IOException(file + ": malformed .npy shape (" + inner + ")", e);
            }
            if (dims[n - 1] < 0) {
                throw new IOException(file + ": negative dimension in .npy shape (" + inner + ")");
            }
        }
        return Arrays.copyOf(dims, n);
    }

    /**
     * Reads an integer array into ints, checking its shape.
     *
     * @param expectedShape required dimensions; -1 leaves a dimension free. The rank must match.
     * @throws IOException naming the file on a shape mismatch, a value that does not fit an int, or a short file
     */
    public static int[] readInts(Path file, long... expectedShape) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readArrayHeader(file, ch, expectedShape);
            int[] out = new int[(int) h.elementCount()];
            int[] pos = {0};
            readData(file, ch, h, buf -> {
                while (buf.remaining() >= h.dtype().itemSize()) {
                    long v = h.dtype().read(buf);
                    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                        throw new IOException(file + ": element " + pos[0] + " = " + v + " does not fit an int");
                    }
                    out[pos[0]++] = (int) v;
                }
            });
            return out;
        }
    }

    /** Reads an integer array into longs, checking its shape as {@link #readInts} does. */
    public static long[] readLongs(Path file, long... expectedShape) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readArrayHeader(file, ch, expectedShape);
            long[] out = new long[(int) h.elementCount()];
            int[] pos = {0};
            readData(file, ch, h, buf -> {
                while (buf.remaining() >= h.dtype().itemSize()) {
                    out[pos[0]++] = h.dtype().read(buf);
                }
            });
            return out;
        }
    }

    /** The header of an array that must have {@code expectedShape} and fit one Java array. */
    private static Header readArrayHeader(Path file, FileChannel ch, long[] expectedShape) throws IOException {
        Header h = readHeader(file, ch);
        checkExpectedShape(file, h, expectedShape);
        if (h.elementCount() > GptSampleIndex.MAX_ARRAY) {
            throw new IOException(file + ": " + h.elementCount() + " elements exceed the largest Java array");
        }
        return h;
    }

    private interface ChunkConsumer {
        void accept(ByteBuffer buf) throws IOException;
    }

    private static void readData(Path file, FileChannel ch, Header h, ChunkConsumer consumer) throws IOException {
        long remaining = h.elementCount() * h.dtype().itemSize();
        long position = h.dataOffset();
        // Chunk size is a multiple of every item size, so no element straddles two chunks.
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        while (remaining > 0) {
            buf.clear();
            buf.limit((int) Math.min(CHUNK, remaining));
            readFully(file, ch, buf, position);
            buf.flip();
            position += buf.remaining();
            remaining -= buf.remaining();
            consumer.accept(buf);
        }
    }

    private static void checkExpectedShape(Path file, Header h, long[] expected) throws IOException {
        boolean ok = expected.length == h.shape().length;
        for (int i = 0; ok && i < expected.length; i++) {
            ok = expected[i] < 0 || expected[i] == h.shape()[i];
        }
        if (!ok) {
            StringBuilder want = new StringBuilder("(");
            for (int i = 0; i < expected.length; i++) {
                want.append(i > 0 ? ", " : "").append(expected[i] < 0 ? "*" : Long.toString(expected[i]));
            }
            want.append(expected.length == 1 ? ",)" : ")");
            throw new IOException(file + ": shape " + shapeRepr(h.shape()) + " does not match the expected " + want);
        }
    }

    private static void checkShape(Path file, long[] shape, int length) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(file + ": negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n != length) {
            throw new IllegalArgumentException(file + ": shape " + Arrays.toString(shape) + " holds " + n
                    + " elements but the data has " + length);
        }
    }

    private static FileChannel openForWrite(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
    }

    private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        writeFully(ch, buf);
        buf.clear();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException(file + ": unexpected end of file at byte " + pos + " (truncated .npy file)");
            }
            pos += n;
        }
    }
}
