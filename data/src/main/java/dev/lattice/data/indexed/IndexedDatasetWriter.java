package dev.lattice.data.indexed;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Streams token ids into a {@code .bin} and collects what the {@code .idx} needs, as Megatron's
 * {@code IndexedDatasetBuilder} does: {@link #addDocument} per document, {@link #addIndex} to append a whole
 * partial dataset (the merge step of {@code --partitions}), then {@link #finish} for the index to write.
 *
 * <p>Where the bytes go (local file, HDFS, S3) and how they become visible is the caller's business; see
 * {@link IndexedDatasetOutput}.
 */
public final class IndexedDatasetWriter implements Closeable {

    private final OutputStream bin;
    private final TokenDType dtype;
    private final int vocabSize;
    private final String name;
    private final ByteBuffer buffer = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private final GrowableArrays.Ints lengths = new GrowableArrays.Ints();
    private final GrowableArrays.Longs documents = new GrowableArrays.Longs();
    private long tokens;
    private boolean finished;

    /**
     * @param bin where the token bytes go; closed by {@link #finish}
     * @param vocabSize ids must be below it (0 to check only that they fit {@code dtype})
     * @param name the dataset named in errors
     */
    public IndexedDatasetWriter(OutputStream bin, TokenDType dtype, int vocabSize, String name) {
        if (!dtype.isInteger()) {
            throw new IllegalArgumentException(name + ": token datasets need an integer dtype, not " + dtype);
        }
        if (vocabSize > 0 && !dtype.holds(vocabSize - 1)) {
            throw new IllegalArgumentException(name + ": a vocabulary of " + vocabSize + " ids does not fit dtype "
                    + dtype + " (Megatron uses uint16 below " + TokenDType.UINT16_VOCAB_LIMIT + ", else int32)");
        }
        this.bin = bin;
        this.dtype = dtype;
        this.vocabSize = vocabSize;
        this.name = name;
        documents.add(0);
    }

    public TokenDType dtype() {
        return dtype;
    }

    /** Adds a document that is one sequence. An empty document is kept: it adds a repeated boundary. */
    public void addDocument(int[] ids) throws IOException {
        addDocument(ids, ids.length == 0 ? new int[0] : new int[] {ids.length});
    }

    /**
     * Adds a document made of sequences whose lengths sum to {@code ids.length} (sentence-level datasets).
     */
    public void addDocument(int[] ids, int[] sequenceLengths) throws IOException {
        checkOpen();
        long sum = 0;
        for (int len : sequenceLengths) {
            if (len < 0) {
                throw new IllegalArgumentException(name + ": negative sequence length " + len);
            }
            sum += len;
        }
        if (sum != ids.length) {
            throw new IllegalArgumentException(name + ": sequence lengths sum to " + sum + " but the document has "
                    + ids.length + " tokens");
        }
        for (int id : ids) {
            writeToken(id);
        }
        for (int len : sequenceLengths) {
            lengths.add(len);
        }
        documents.add(lengths.size());
        tokens += ids.length;
    }

    private void writeToken(int id) throws IOException {
        if (id < 0 || (vocabSize > 0 && id >= vocabSize) || !dtype.holds(id)) {
            throw new IllegalArgumentException(name + ": token id " + id + " is outside "
                    + (vocabSize > 0 ? "the vocabulary [0, " + vocabSize + ")" : "dtype " + dtype));
        }
        if (buffer.remaining() < 4) {
            flushBuffer();
        }
        switch (dtype) {
            case UINT8, INT8 -> buffer.put((byte) id);
            case UINT16, INT16 -> buffer.putShort((short) id);
            case INT32 -> buffer.putInt(id);
            case INT64 -> {
                if (buffer.remaining() < 8) {
                    flushBuffer();
                }
                buffer.putLong(id);
            }
            default -> throw new IllegalStateException("not an integer dtype: " + dtype);
        }
    }

    private void flushBuffer() throws IOException {
        bin.write(buffer.array(), 0, buffer.position());
        buffer.clear();
    }

    /**
     * Appends a whole dataset: its sequences and documents after ours, its {@code .bin} bytes verbatim.
     *
     * @param otherBin the other dataset's {@code .bin}, read to its end
     */
    public void addIndex(DatasetIndex other, InputStream otherBin, String otherName) throws IOException {
        checkOpen();
        if (other.dtype() != dtype) {
            throw new IllegalArgumentException("cannot merge " + otherName + " (dtype " + other.dtype()
                    + ") into " + name + " (dtype " + dtype + "): the vocabularies or tokenizers differ");
        }
        flushBuffer();
        int offset = lengths.size();
        for (int len : other.sequenceLengthsView()) {
            lengths.add(len);
        }
        long[] docs = other.documentIndicesView();
        for (int i = 1; i < docs.length; i++) {
            documents.add(offset + docs[i]);
        }
        long expected = other.binBytes();
        long copied = otherBin.transferTo(bin);
        if (copied != expected) {
            throw new InvalidDatasetException(otherName + ": .bin holds " + copied + " bytes but its index describes "
                    + expected + " bytes");
        }
        tokens += other.tokenCount();
    }

    public long tokenCount() {
        return tokens;
    }

    public int documentCount() {
        return documents.size() - 1;
    }

    /** Flushes and closes the {@code .bin} stream and returns the index that describes it. */
    public DatasetIndex finish() throws IOException {
        checkOpen();
        flushBuffer();
        bin.close();
        finished = true;
        return DatasetIndex.of(dtype, lengths.toArray(), documents.toArray());
    }

    private void checkOpen() {
        if (finished) {
            throw new IllegalStateException(name + ": writer already finished");
        }
    }

    @Override
    public void close() throws IOException {
        if (!finished) {
            finished = true;
            bin.close();
        }
    }
}
