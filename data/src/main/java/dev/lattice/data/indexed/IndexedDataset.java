package dev.lattice.data.indexed;

import dev.lattice.data.samples.TokenSequences;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Megatron indexed dataset ({@code <prefix>.idx} + {@code <prefix>.bin}) read through memory maps, as Megatron's
 * {@code IndexedDataset} reads it. Opening validates the header, the array sizes against the file length, the
 * document boundaries and that every sequence lies inside the {@code .bin}; each error names the file.
 *
 * <p>Thread-safe: reads are absolute and the maps are never modified.
 */
public final class IndexedDataset implements Closeable, TokenSequences {

    private final Path prefix;
    private final TokenDType dtype;
    private final int sequences;
    private final int documentIndexLength;
    private final MappedFile idx;
    private final MappedFile bin;
    private final long lengthsAt;
    private final long pointersAt;
    private final long documentsAt;

    private IndexedDataset(Path prefix, TokenDType dtype, int sequences, int documentIndexLength, MappedFile idx,
                           MappedFile bin) {
        this.prefix = prefix;
        this.dtype = dtype;
        this.sequences = sequences;
        this.documentIndexLength = documentIndexLength;
        this.idx = idx;
        this.bin = bin;
        this.lengthsAt = DatasetIndex.HEADER_BYTES;
        this.pointersAt = lengthsAt + 4L * sequences;
        this.documentsAt = pointersAt + 8L * sequences;
    }

    /** Opens {@code prefix.idx} and {@code prefix.bin} (the prefix may also be given with either suffix). */
    public static IndexedDataset open(Path prefix) throws IOException {
        Path p = stripSuffix(prefix);
        Path idxPath = Path.of(p + ".idx");
        Path binPath = Path.of(p + ".bin");
        if (!Files.isRegularFile(idxPath)) {
            throw new InvalidDatasetException(idxPath + ": index file not found"
                    + (Files.exists(binPath) ? " (the .bin exists: the dataset was not completely written)" : ""));
        }
        if (!Files.isRegularFile(binPath)) {
            throw new InvalidDatasetException(binPath + ": data file not found (the .idx exists)");
        }
        MappedFile idx = new MappedFile(idxPath);
        MappedFile bin = new MappedFile(binPath);
        String name = idxPath.toString();
        ByteBuffer header = ByteBuffer.allocate(DatasetIndex.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < Math.min(DatasetIndex.HEADER_BYTES, idx.length()); i++) {
            header.put(idx.getByte(i));
        }
        header.flip();
        DatasetIndex.Header h = DatasetIndex.Header.parse(header, idx.length(), name);
        IndexedDataset ds = new IndexedDataset(p, h.dtype(), h.sequences(), h.documentIndexLength(), idx, bin);
        IndexValidator.validate(ds::sequenceLength, ds::sequencePointer, ds::documentIndex, h.sequences(),
                h.documentIndexLength(), h.dtype(), name, bin.length());
        return ds;
    }

    private static Path stripSuffix(Path prefix) {
        String s = prefix.toString();
        if (s.endsWith(".idx") || s.endsWith(".bin")) {
            return Path.of(s.substring(0, s.length() - 4));
        }
        return prefix;
    }

    public Path prefix() {
        return prefix;
    }

    public TokenDType dtype() {
        return dtype;
    }

    public int sequenceCount() {
        return sequences;
    }

    public int documentCount() {
        return documentIndexLength - 1;
    }

    public int sequenceLength(int i) {
        return idx.getInt(lengthsAt + 4L * checkSequence(i));
    }

    public long sequencePointer(int i) {
        return idx.getLong(pointersAt + 8L * checkSequence(i));
    }

    /** Entry {@code i} of {@code document_indices}: document {@code i} starts at that sequence. */
    public long documentIndex(int i) {
        if (i < 0 || i >= documentIndexLength) {
            throw new IndexOutOfBoundsException("document index " + i + " outside [0, " + documentIndexLength + ")");
        }
        return idx.getLong(documentsAt + 8L * i);
    }

    /** Total tokens in the dataset. */
    public long tokenCount() {
        long sum = 0;
        for (int i = 0; i < sequences; i++) {
            sum += sequenceLength(i);
        }
        return sum;
    }

    private int checkSequence(int i) {
        if (i < 0 || i >= sequences) {
            throw new IndexOutOfBoundsException("sequence " + i + " outside [0, " + sequences + ") in " + prefix);
        }
        return i;
    }

    /** All tokens of sequence {@code i}. */
    public int[] sequence(int i) {
        int len = sequenceLength(i);
        long[] tmp = new long[len];
        read(i, 0, len, tmp, 0);
        int[] out = new int[len];
        for (int k = 0; k < len; k++) {
            out[k] = Math.toIntExact(tmp[k]);
        }
        return out;
    }

    /** All tokens of document {@code d} (its sequences concatenated). */
    public int[] document(int d) {
        int first = Math.toIntExact(documentIndex(d));
        int last = Math.toIntExact(documentIndex(d + 1));
        int total = 0;
        for (int s = first; s < last; s++) {
            total += sequenceLength(s);
        }
        int[] out = new int[total];
        int at = 0;
        for (int s = first; s < last; s++) {
            int[] seq = sequence(s);
            System.arraycopy(seq, 0, out, at, seq.length);
            at += seq.length;
        }
        return out;
    }

    /** Reads {@code length} tokens of sequence {@code seq} starting at token {@code offset} into {@code dest}. */
    public void read(int seq, int offset, int length, long[] dest, int destPos) {
        int len = sequenceLength(seq);
        if (offset < 0 || length < 0 || offset + length > len) {
            throw new IndexOutOfBoundsException("tokens [" + offset + ", " + (offset + length) + ") outside sequence "
                    + seq + " of length " + len + " in " + prefix);
        }
        long pos = sequencePointer(seq) + (long) offset * dtype.itemSize();
        switch (dtype) {
            case UINT16 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getShort(pos + 2L * k) & 0xffff;
                }
            }
            case INT32 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getInt(pos + 4L * k);
                }
            }
            case INT64 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getLong(pos + 8L * k);
                }
            }
            case INT16 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getShort(pos + 2L * k);
                }
            }
            case UINT8 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getByte(pos + k) & 0xff;
                }
            }
            case INT8 -> {
                for (int k = 0; k < length; k++) {
                    dest[destPos + k] = bin.getByte(pos + k);
                }
            }
            default -> throw new InvalidDatasetException(prefix + ": dtype " + dtype + " does not hold token ids");
        }
    }

    /**
     * Checks that this dataset can feed a model with {@code vocabSize} ids: the dtype must be an integer type and
     * no token may reach the vocabulary size. Scans all tokens; the error names the dataset, sequence and id.
     */
    public void checkVocabulary(int vocabSize) {
        if (!dtype.isInteger()) {
            throw new InvalidDatasetException(prefix + ": dtype " + dtype + " does not hold token ids");
        }
        long[] buf = new long[4096];
        for (int s = 0; s < sequences; s++) {
            int len = sequenceLength(s);
            for (int off = 0; off < len; off += buf.length) {
                int n = Math.min(buf.length, len - off);
                read(s, off, n, buf, 0);
                for (int k = 0; k < n; k++) {
                    if (buf[k] < 0 || buf[k] >= vocabSize) {
                        throw new InvalidDatasetException(prefix + ": token id " + buf[k] + " in sequence " + s
                                + " (position " + (off + k) + ") is outside the vocabulary [0, " + vocabSize + ")");
                    }
                }
            }
        }
    }

    @Override
    public void close() {
        idx.close();
        bin.close();
    }
}
