package dev.lattice.data.indexed;

import dev.lattice.data.storage.Storage;

import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.UUID;

/**
 * Writes {@code <prefix>.bin} + {@code <prefix>.idx} so that an interrupted write never leaves a dataset that looks
 * complete: both files are written under temporary names, then the {@code .bin} is renamed into place and the
 * {@code .idx} last. Readers open the {@code .idx} first, so without it there is no dataset. Closing without
 * {@link #commit} deletes the temporary files.
 */
public final class IndexedDatasetOutput implements Closeable {

    private final Storage storage;
    private final String prefix;
    private final boolean overwrite;
    private final String tmpBin;
    private final String tmpIdx;
    private final IndexedDatasetWriter writer;
    private boolean committed;

    private IndexedDatasetOutput(Storage storage, String prefix, boolean overwrite, TokenDType dtype, int vocabSize)
            throws IOException {
        this.storage = storage;
        this.prefix = prefix;
        this.overwrite = overwrite;
        String tag = ".inprogress-" + UUID.randomUUID().toString().substring(0, 8);
        this.tmpBin = binPath(prefix) + tag;
        this.tmpIdx = idxPath(prefix) + tag;
        OutputStream bin = storage.create(tmpBin, true);
        this.writer = new IndexedDatasetWriter(bin, dtype, vocabSize, prefix);
    }

    /**
     * Starts a dataset at {@code prefix}.
     *
     * @throws IllegalStateException if a dataset is already there and {@code overwrite} is false
     */
    public static IndexedDatasetOutput create(Storage storage, String prefix, TokenDType dtype, int vocabSize,
                                              boolean overwrite) throws IOException {
        if (!overwrite && (storage.exists(binPath(prefix)) || storage.exists(idxPath(prefix)))) {
            throw new IllegalStateException("output " + prefix + ".bin/.idx already exists; pass --overwrite to"
                    + " replace it");
        }
        return new IndexedDatasetOutput(storage, prefix, overwrite, dtype, vocabSize);
    }

    public static String binPath(String prefix) {
        return prefix + ".bin";
    }

    public static String idxPath(String prefix) {
        return prefix + ".idx";
    }

    public IndexedDatasetWriter writer() {
        return writer;
    }

    /** Finishes the {@code .bin}, writes the {@code .idx} and moves both into place, index last. */
    public DatasetIndex commit() throws IOException {
        DatasetIndex index = writer.finish();
        try (OutputStream idx = storage.create(tmpIdx, true)) {
            index.write(idx);
        }
        if (overwrite) {
            // An old .idx must not pair with the new .bin while we move files.
            storage.delete(idxPath(prefix));
        }
        storage.rename(tmpBin, binPath(prefix));
        storage.rename(tmpIdx, idxPath(prefix));
        committed = true;
        return index;
    }

    @Override
    public void close() {
        if (committed) {
            return;
        }
        try {
            writer.close();
            storage.delete(tmpBin);
            storage.delete(tmpIdx);
        } catch (IOException e) {
            throw new UncheckedIOException("could not remove the unfinished dataset files " + tmpBin + ", " + tmpIdx,
                    e);
        }
    }
}
