package dev.lattice.data.indexed;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The contents of an {@code .idx} file held in memory: dtype, per-sequence lengths and byte pointers, and document
 * boundaries (megatron-formats.md §1.2). Used when writing and merging; the memory-mapped {@link IndexedDataset}
 * reads large files without loading them.
 *
 * <p>Layout: 9-byte magic {@code MMIDIDX\0\0}, uint64 version 1, uint8 dtype code, uint64 sequence count S, uint64
 * document-index length D, int32[S] lengths, int64[S] pointers, int64[D] document indices; all little-endian, no
 * padding.
 */
public final class DatasetIndex {

    static final byte[] MAGIC = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
    static final long VERSION = 1;
    static final int HEADER_BYTES = 34;

    private final TokenDType dtype;
    private final int[] sequenceLengths;
    private final long[] sequencePointers;
    private final long[] documentIndices;

    DatasetIndex(TokenDType dtype, int[] sequenceLengths, long[] sequencePointers, long[] documentIndices) {
        this.dtype = dtype;
        this.sequenceLengths = sequenceLengths;
        this.sequencePointers = sequencePointers;
        this.documentIndices = documentIndices;
    }

    /** Builds an index for consecutive sequences; pointers are the exclusive prefix sum of lengths × item size. */
    public static DatasetIndex of(TokenDType dtype, int[] sequenceLengths, long[] documentIndices) {
        long[] pointers = new long[sequenceLengths.length];
        long offset = 0;
        for (int i = 0; i < sequenceLengths.length; i++) {
            pointers[i] = offset;
            offset += (long) sequenceLengths[i] * dtype.itemSize();
        }
        return new DatasetIndex(dtype, sequenceLengths.clone(), pointers, documentIndices.clone());
    }

    public TokenDType dtype() {
        return dtype;
    }

    public int sequenceCount() {
        return sequenceLengths.length;
    }

    /** Number of documents: the document-index array length minus one. */
    public int documentCount() {
        return documentIndices.length - 1;
    }

    public int[] sequenceLengths() {
        return sequenceLengths.clone();
    }

    public long[] sequencePointers() {
        return sequencePointers.clone();
    }

    public long[] documentIndices() {
        return documentIndices.clone();
    }

    int[] sequenceLengthsView() {
        return sequenceLengths;
    }

    long[] documentIndicesView() {
        return documentIndices;
    }

    /** Total tokens over all sequences. */
    public long tokenCount() {
        long sum = 0;
        for (int len : sequenceLengths) {
            sum += len;
        }
        return sum;
    }

    /** Bytes the {@code .bin} must hold for these sequences. */
    public long binBytes() {
        return tokenCount() * dtype.itemSize();
    }

    /** Size of the {@code .idx} file for S sequences and D document-index entries. */
    public static long idxBytes(long sequences, long documentIndexLength) {
        return HEADER_BYTES + 12 * sequences + 8 * documentIndexLength;
    }

    /** Writes the {@code .idx} bytes. */
    public void write(OutputStream out) throws IOException {
        OutputStream os = new BufferedOutputStream(out, 1 << 16);
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        header.put(MAGIC).putLong(VERSION).put((byte) dtype.code())
                .putLong(sequenceLengths.length).putLong(documentIndices.length);
        os.write(header.array());
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int len : sequenceLengths) {
            flushIfFull(os, buf, 4);
            buf.putInt(len);
        }
        for (long p : sequencePointers) {
            flushIfFull(os, buf, 8);
            buf.putLong(p);
        }
        for (long d : documentIndices) {
            flushIfFull(os, buf, 8);
            buf.putLong(d);
        }
        os.write(buf.array(), 0, buf.position());
        os.flush();
    }

    private static void flushIfFull(OutputStream os, ByteBuffer buf, int need) throws IOException {
        if (buf.remaining() < need) {
            os.write(buf.array(), 0, buf.position());
            buf.clear();
        }
    }

    /**
     * Reads and validates an {@code .idx} of {@code fileLength} bytes from {@code in}.
     *
     * @param name the file named in errors
     * @param binLength the length of the matching {@code .bin}, or -1 to skip the pointer checks
     */
    public static DatasetIndex read(InputStream in, long fileLength, String name, long binLength) throws IOException {
        DataInputStream din = new DataInputStream(in);
        byte[] header = new byte[HEADER_BYTES];
        try {
            din.readFully(header);
        } catch (EOFException e) {
            throw new InvalidDatasetException(name + ": truncated index: " + fileLength
                    + " bytes, but the header alone is " + HEADER_BYTES + " bytes");
        }
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        Header parsed = Header.parse(h, fileLength, name);
        int s = parsed.sequences;
        int d = parsed.documentIndexLength;
        byte[] body = new byte[Math.toIntExact(12L * s + 8L * d)];
        try {
            din.readFully(body);
        } catch (EOFException e) {
            throw new InvalidDatasetException(name + ": truncated index: expected " + idxBytes(s, d) + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
        int[] lengths = new int[s];
        b.asIntBuffer().get(lengths);
        b.position(4 * s);
        long[] pointers = new long[s];
        b.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(pointers);
        b.position(12 * s);
        long[] docs = new long[d];
        b.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(docs);
        DatasetIndex index = new DatasetIndex(parsed.dtype, lengths, pointers, docs);
        IndexValidator.validate(index::sequenceLength, index::sequencePointer, index::documentIndex, s, d,
                parsed.dtype, name, binLength);
        return index;
    }

    int sequenceLength(int i) {
        return sequenceLengths[i];
    }

    long sequencePointer(int i) {
        return sequencePointers[i];
    }

    long documentIndex(int i) {
        return documentIndices[i];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DatasetIndex other && dtype == other.dtype
                && Arrays.equals(sequenceLengths, other.sequenceLengths)
                && Arrays.equals(sequencePointers, other.sequencePointers)
                && Arrays.equals(documentIndices, other.documentIndices);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(sequenceLengths) * 31 + Arrays.hashCode(documentIndices);
    }

    /** The fixed 34-byte header, checked against the file length. */
    record Header(TokenDType dtype, int sequences, int documentIndexLength) {

        static Header parse(ByteBuffer h, long fileLength, String name) {
            if (fileLength < HEADER_BYTES) {
                throw new InvalidDatasetException(name + ": truncated index: " + fileLength
                        + " bytes, but the header alone is " + HEADER_BYTES + " bytes");
            }
            byte[] magic = new byte[MAGIC.length];
            h.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new InvalidDatasetException(name + ": not a Megatron indexed dataset index: the file does not"
                        + " start with the magic bytes 'MMIDIDX\\0\\0'");
            }
            long version = h.getLong();
            if (version != VERSION) {
                throw new InvalidDatasetException(name + ": unsupported index version " + version
                        + " (only version 1 exists)");
            }
            int code = h.get() & 0xff;
            TokenDType dtype = TokenDType.forCode(code);
            if (dtype == null) {
                throw new InvalidDatasetException(name + ": unknown dtype code " + code
                        + " in byte 17 (expected 1-8; token files use 8=uint16 or 4=int32)");
            }
            long s = h.getLong();
            long d = h.getLong();
            if (s < 0 || d < 1 || s > Integer.MAX_VALUE || d > Integer.MAX_VALUE) {
                throw new InvalidDatasetException(name + ": impossible counts in the header: " + s
                        + " sequences, " + d + " document-index entries");
            }
            long expected = idxBytes(s, d);
            if (fileLength != expected) {
                throw new InvalidDatasetException(name + ": index is " + fileLength + " bytes, but its header ("
                        + s + " sequences, " + d + " document-index entries) requires " + expected + " bytes"
                        + (fileLength < expected ? " (truncated)" : " (trailing bytes)"));
            }
            return new Header(dtype, (int) s, (int) d);
        }
    }
}
