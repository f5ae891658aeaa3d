package dev.lattice.data.samples;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;

/**
 * Stores and finds a split's GPT indices the way Megatron does (spec §2.8), so Megatron and Lattice can share one
 * cache directory: {@code {md5}-GPTDataset-{split}-description.txt}, {@code -document_index.npy} (int32),
 * {@code -sample_index.npy} (int32 {@code [n+1, 2]}) and {@code -shuffle_index.npy} (uint32).
 *
 * <p>Stricter than Megatron in two ways. A hit also requires the stored description to equal the expected one, and a
 * description that exists but differs is an error rather than something to overwrite, because it means two different
 * configurations collide on one name (or someone edited the cache). And every file is written under a temporary name
 * and moved into place, the description last, so a crash mid-write never leaves a set that looks complete; stray
 * temporary files are harmless and never match a cache name.
 *
 * <p>Building on one rank while others wait is the caller's job (as in Megatron): after the builder returns, the
 * files are complete and other processes can {@link #load} them.
 */
public final class SampleIndexCache {

    /** Megatron's default cache location relative to a dataset prefix: {@code <prefix>/cache/GPTDataset_indices}. */
    public static final String DEFAULT_SUBDIRECTORY = "cache/" + GptDatasetDescription.CLASS_NAME + "_indices";

    private final Path directory;

    /** A cache in {@code directory} (Megatron's {@code --data-cache-path}). */
    public SampleIndexCache(Path directory) {
        this.directory = Objects.requireNonNull(directory, "directory");
    }

    /**
     * Megatron's default when no cache path is configured: {@code os.path.join(path_prefix, "cache",
     * "GPTDataset_indices")}, i.e. a directory named after the prefix itself, beside the {@code .bin}/{@code .idx}.
     */
    public static SampleIndexCache besideDataset(String pathPrefix) {
        return new SampleIndexCache(Paths.get(pathPrefix, "cache", GptDatasetDescription.CLASS_NAME + "_indices"));
    }

    /** The cache directory. */
    public Path directory() {
        return directory;
    }

    /** The path of one cache file, e.g. {@code suffix = "sample_index.npy"}. */
    public Path file(GptDatasetDescription description, String suffix) {
        return directory.resolve(description.baseName() + "-" + suffix);
    }

    /**
     * Loads the indices if the cache holds them.
     *
     * @return empty on a miss (some file absent)
     * @throws IllegalStateException when the description file exists but differs from {@code description}
     * @throws IOException naming the file when an index file is truncated, has the wrong dtype or shape, or the
     *     three indices do not fit together
     */
    public Optional<GptSampleIndex> load(GptDatasetDescription description, GptSampleIndex.Params params)
            throws IOException {
        Path desc = file(description, "description.txt");
        Path doc = file(description, "document_index.npy");
        Path sample = file(description, "sample_index.npy");
        Path shuffle = file(description, "shuffle_index.npy");
        String expected = description.toJson();
        if (Files.isRegularFile(desc)) {
            checkDescription(desc, expected);
        }
        if (!Files.isRegularFile(desc) || !Files.isRegularFile(doc) || !Files.isRegularFile(sample)
                || !Files.isRegularFile(shuffle)) {
            return Optional.empty();
        }
        int[] documentIndex = readChecked(doc, "int32", new NpyFiles.Dtype[] {NpyFiles.Dtype.INT32}, -1);
        int[] sampleIndex = readChecked(sample, "int32 or int64",
                new NpyFiles.Dtype[] {NpyFiles.Dtype.INT32, NpyFiles.Dtype.INT64}, -1, 2);
        int n = sampleIndex.length / 2 - 1;
        int[] shuffleIndex = readChecked(shuffle, "uint32 or int64",
                new NpyFiles.Dtype[] {NpyFiles.Dtype.UINT32, NpyFiles.Dtype.INT64}, n);
        try {
            return Optional.of(GptSampleIndex.fromArrays(params, documentIndex, sampleIndex, shuffleIndex));
        } catch (IllegalArgumentException e) {
            throw new IOException("sample index cache " + directory.resolve(description.baseName())
                    + "-* is inconsistent: " + e.getMessage(), e);
        }
    }

    private static int[] readChecked(Path file, String expectedType, NpyFiles.Dtype[] allowed, long... shape)
            throws IOException {
        NpyFiles.Header header = NpyFiles.readHeader(file);
        boolean ok = false;
        for (NpyFiles.Dtype d : allowed) {
            ok |= header.dtype() == d;
        }
        if (!ok) {
            throw new IOException(file + ": dtype " + header.dtype().descr() + " where Megatron writes "
                    + expectedType);
        }
        return NpyFiles.readInts(file, shape);
    }

    private static void checkDescription(Path file, String expected) throws IOException {
        String stored = Files.readString(file, StandardCharsets.UTF_8);
        if (stored.equals(expected)) {
            return;
        }
        String[] have = stored.split("\n", -1);
        String[] want = expected.split("\n", -1);
        int line = 0;
        while (line < have.length && line < want.length && have[line].equals(want[line])) {
            line++;
        }
        String haveLine = line < have.length ? have[line] : "<end of file>";
        String wantLine = line < want.length ? want[line] : "<end of description>";
        throw new IllegalStateException("sample index cache " + file + " does not match its description: line "
                + (line + 1) + " is '" + haveLine.strip() + "' but expected '" + wantLine.strip() + "'");
    }

    /**
     * Writes the indices: the three arrays first, then the description, each via a temporary file and an atomic
     * move, so a reader that sees the description also sees complete arrays.
     */
    public void store(GptDatasetDescription description, GptSampleIndex index) throws IOException {
        Files.createDirectories(directory);
        int[] sampleIndex = index.sampleIndexArray();
        writeAtomically(file(description, "document_index.npy"),
                tmp -> NpyFiles.writeInts(tmp, NpyFiles.Dtype.INT32, index.documentIndexArray(),
                        index.documentIndexArray().length));
        writeAtomically(file(description, "sample_index.npy"),
                tmp -> NpyFiles.writeInts(tmp, NpyFiles.Dtype.INT32, sampleIndex, sampleIndex.length / 2, 2));
        writeAtomically(file(description, "shuffle_index.npy"),
                tmp -> NpyFiles.writeInts(tmp, NpyFiles.Dtype.UINT32, index.shuffleIndexArray(),
                        index.shuffleIndexArray().length));
        writeAtomically(file(description, "description.txt"),
                tmp -> writeText(tmp, description.toJson()));
    }

    /**
     * The cached indices if present and matching, else builds them from {@code source} and stores them.
     *
     * @throws IllegalStateException when a different description already sits under this name
     */
    public GptSampleIndex loadOrBuild(GptDatasetDescription description, TokenSequences source, int[] documents,
            GptSampleIndex.Params params) throws IOException {
        Optional<GptSampleIndex> cached = load(description, params);
        if (cached.isPresent()) {
            return cached.get();
        }
        GptSampleIndex built = GptSampleIndex.build(source, documents, params);
        store(description, built);
        return built;
    }

    private static void writeText(Path file, String text) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            // Durable before the rename publishes it, like the arrays.
            ch.force(true);
        }
    }

    private interface Writer {
        void write(Path tmp) throws IOException;
    }

    private static void writeAtomically(Path target, Writer writer) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp-" + UUID.randomUUID());
        try {
            writer.write(tmp);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                // Some filesystems (e.g. certain network mounts) cannot rename atomically; a plain replace still
                // keeps the description-last ordering.
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
