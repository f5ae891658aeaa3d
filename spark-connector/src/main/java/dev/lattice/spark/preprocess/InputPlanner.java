package dev.lattice.spark.preprocess;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Turns {@code --input} values (files, directories, globs, {@code archive.zip!prefix}) into ordered splits of
 * roughly equal size. Document order in the outputs is the input order: inputs as given, files of a directory or
 * glob sorted by path, lines by offset. Large uncompressed line-oriented files are split into byte ranges so one
 * big JSONL file still uses every worker.
 */
final class InputPlanner {

    static final long MIN_SPLIT = 1L << 20;
    static final long MAX_SPLIT = 128L << 20;

    private final Configuration conf;
    private final InputFormat forced;
    private final boolean textPerLine;

    InputPlanner(Configuration conf, InputFormat forced, boolean textPerLine) {
        this.conf = conf;
        this.forced = forced;
        this.textPerLine = textPerLine;
    }

    /** A file to read, with its format and size. */
    record InputFile(String path, InputFormat format, long length, String zipPrefix) {
    }

    List<InputSplit> plan(List<String> inputs, int parallelism) throws IOException {
        List<InputFile> files = listFiles(inputs);
        long total = files.stream().mapToLong(InputFile::length).sum();
        long target = Math.max(MIN_SPLIT, Math.min(MAX_SPLIT, total / Math.max(1, parallelism * 4L)));
        List<FileChunk> chunks = new ArrayList<>();
        for (InputFile f : files) {
            chunks.addAll(chunk(f, target));
        }
        List<InputSplit> splits = new ArrayList<>();
        List<FileChunk> current = new ArrayList<>();
        long bytes = 0;
        for (FileChunk c : chunks) {
            if (!current.isEmpty() && bytes + c.bytes() > target) {
                splits.add(new InputSplit(splits.size(), List.copyOf(current)));
                current.clear();
                bytes = 0;
            }
            current.add(c);
            bytes += c.bytes();
        }
        if (!current.isEmpty()) {
            splits.add(new InputSplit(splits.size(), List.copyOf(current)));
        }
        return splits;
    }

    List<InputFile> listFiles(List<String> inputs) throws IOException {
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("--input: no input given");
        }
        List<InputFile> out = new ArrayList<>();
        for (String input : inputs) {
            int bang = input.indexOf(".zip!");
            if (bang >= 0) {
                String zip = input.substring(0, bang + 4);
                out.add(zipFile(zip, input.substring(bang + 5), input));
                continue;
            }
            Path p = new Path(input);
            FileSystem fs = p.getFileSystem(conf);
            FileStatus[] matches = fs.globStatus(p);
            if (matches == null || matches.length == 0) {
                throw new IllegalArgumentException("--input " + input + ": no such file or directory"
                        + (input.contains("*") || input.contains("?") ? " (the pattern matches nothing)" : ""));
            }
            Arrays.sort(matches, Comparator.comparing(s -> s.getPath().toString()));
            for (FileStatus s : matches) {
                if (s.isDirectory()) {
                    List<LocatedFileStatus> inDir = new ArrayList<>();
                    RemoteIterator<LocatedFileStatus> it = fs.listFiles(s.getPath(), true);
                    while (it.hasNext()) {
                        LocatedFileStatus f = it.next();
                        if (!isHidden(s.getPath(), f.getPath())) {
                            inDir.add(f);
                        }
                    }
                    inDir.sort(Comparator.comparing(f -> f.getPath().toString()));
                    for (LocatedFileStatus f : inDir) {
                        out.add(file(f, input));
                    }
                } else {
                    out.add(file(s, input));
                }
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--input " + inputs + ": no input files found");
        }
        return out;
    }

    /** Hidden files (names starting with '_' or '.', e.g. _SUCCESS, .crc) anywhere below the listed root. */
    private static boolean isHidden(Path root, Path file) {
        for (Path p = file; p != null && !p.equals(root); p = p.getParent()) {
            String n = p.getName();
            if (n.startsWith("_") || n.startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    private InputFile file(FileStatus s, String input) throws IOException {
        String path = s.getPath().toString();
        InputFormat format = forced != null ? forced : InputFormat.fromFileName(s.getPath().getName());
        if (format == null) {
            throw new IllegalArgumentException("--input " + input + ": cannot tell the format of " + path
                    + " from its name (expected .jsonl, .json, .txt, .parquet or .zip); pass --input-format");
        }
        if (format == InputFormat.ZIP) {
            return zipFile(path, "", input);
        }
        return new InputFile(path, format, s.getLen(), null);
    }

    private InputFile zipFile(String path, String prefix, String input) throws IOException {
        java.nio.file.Path local = ZipReader.localPath(path);
        if (!java.nio.file.Files.isRegularFile(local)) {
            throw new IllegalArgumentException("--input " + input + ": no such zip file " + local);
        }
        long bytes = 0;
        try (ZipFile zip = new ZipFile(local.toFile())) {
            List<ZipEntry> entries = ZipReader.fileEntries(zip, prefix);
            if (entries.isEmpty()) {
                throw new IllegalArgumentException("--input " + input + ": the archive has no files under '"
                        + prefix + "'");
            }
            for (ZipEntry e : entries) {
                bytes += Math.max(0, e.getSize());
            }
        }
        return new InputFile(path, InputFormat.ZIP, bytes, prefix);
    }

    private List<FileChunk> chunk(InputFile f, long target) throws IOException {
        boolean lineOriented = f.format() == InputFormat.JSONL || (f.format() == InputFormat.TEXT && textPerLine);
        if (f.format() == InputFormat.ZIP) {
            return zipChunks(f, target);
        }
        if (!lineOriented || f.length() <= target || HadoopInput.isCompressed(f.path(), conf)) {
            return List.of(FileChunk.whole(f.path(), f.format(), f.length()));
        }
        List<FileChunk> out = new ArrayList<>();
        for (long start = 0; start < f.length(); start += target) {
            out.add(FileChunk.range(f.path(), f.format(), start, Math.min(f.length(), start + target)));
        }
        return out;
    }

    private List<FileChunk> zipChunks(InputFile f, long target) throws IOException {
        List<FileChunk> out = new ArrayList<>();
        try (ZipFile zip = new ZipFile(ZipReader.localPath(f.path()).toFile())) {
            List<ZipEntry> entries = ZipReader.fileEntries(zip, f.zipPrefix());
            int first = 0;
            long bytes = 0;
            for (int i = 0; i < entries.size(); i++) {
                bytes += Math.max(0, entries.get(i).getSize());
                if (bytes >= target || i == entries.size() - 1) {
                    out.add(FileChunk.entries(f.path(), first, i + 1, f.zipPrefix(), bytes));
                    first = i + 1;
                    bytes = 0;
                }
            }
        }
        return out;
    }
}
