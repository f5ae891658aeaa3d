package dev.lattice.spark.preprocess;

import dev.lattice.data.storage.LocalStorage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads the file entries of a zip archive as documents, in the archive's order. Archives must be on a local
 * filesystem visible to every executor (zip needs random access to its central directory).
 */
final class ZipReader implements RecordReader {

    private final FileChunk chunk;
    private final ZipFile zip;
    private final List<ZipEntry> entries;
    private final Utf8 utf8 = new Utf8();
    private int next;

    ZipReader(FileChunk chunk) throws IOException {
        this.chunk = chunk;
        this.zip = new ZipFile(localPath(chunk.path()).toFile());
        this.entries = fileEntries(zip, chunk.entryPrefix());
        this.next = chunk.firstEntry();
    }

    /** The file entries whose names start with {@code prefix}, in archive order: the unit the planner splits. */
    static List<ZipEntry> fileEntries(ZipFile zip, String prefix) {
        List<ZipEntry> out = new ArrayList<>();
        Enumeration<? extends ZipEntry> en = zip.entries();
        while (en.hasMoreElements()) {
            ZipEntry e = en.nextElement();
            if (!e.isDirectory() && e.getName().startsWith(prefix)) {
                out.add(e);
            }
        }
        return out;
    }

    static Path localPath(String path) {
        String scheme = dev.lattice.data.storage.Storages.schemeOf(path);
        if (scheme != null && !scheme.equals("file")) {
            throw new IllegalArgumentException("zip input " + path
                    + " must be on a local filesystem (zip archives need random access); copy it or unpack it");
        }
        return LocalStorage.toPath(path);
    }

    @Override
    public RawRecord next() throws IOException {
        if (next >= chunk.endEntry() || next >= entries.size()) {
            return null;
        }
        ZipEntry e = entries.get(next++);
        byte[] bytes;
        try (InputStream in = zip.getInputStream(e)) {
            bytes = in.readAllBytes();
        }
        String source = chunk.path() + "!" + e.getName();
        try {
            return RawRecord.document(new String[] {utf8.decode(bytes, 0, bytes.length)}, source, bytes.length);
        } catch (Utf8.InvalidUtf8Exception ex) {
            return RawRecord.bad(source + ": invalid UTF-8 at byte " + ex.offset(), bytes.length);
        }
    }

    @Override
    public void close() throws IOException {
        zip.close();
    }
}
