package dev.lattice.spark.storage;

import dev.lattice.data.storage.Storage;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * {@link Storage} over any Hadoop {@link FileSystem}: file://, hdfs://, s3a://. Renames are atomic on HDFS and
 * local disks and a copy on S3, which is why commit protocols write a marker last rather than trusting renames.
 */
public final class HadoopStorage implements Storage {

    private final Configuration conf;

    public HadoopStorage(Configuration conf) {
        this.conf = conf;
    }

    public Configuration configuration() {
        return conf;
    }

    private FileSystem fs(Path p) throws IOException {
        return p.getFileSystem(conf);
    }

    @Override
    public OutputStream create(String path, boolean overwrite) throws IOException {
        Path p = new Path(path);
        return fs(p).create(p, overwrite);
    }

    @Override
    public InputStream open(String path) throws IOException {
        Path p = new Path(path);
        return fs(p).open(p);
    }

    @Override
    public boolean exists(String path) throws IOException {
        Path p = new Path(path);
        return fs(p).exists(p);
    }

    @Override
    public long length(String path) throws IOException {
        Path p = new Path(path);
        return fs(p).getFileStatus(p).getLen();
    }

    @Override
    public void rename(String from, String to) throws IOException {
        Path src = new Path(from);
        Path dst = new Path(to);
        FileSystem fs = fs(src);
        if (fs.exists(dst)) {
            fs.delete(dst, true);
        }
        if (dst.getParent() != null) {
            fs.mkdirs(dst.getParent());
        }
        if (!fs.rename(src, dst)) {
            throw new IOException("could not rename " + from + " to " + to);
        }
    }

    @Override
    public void delete(String path) throws IOException {
        Path p = new Path(path);
        fs(p).delete(p, true);
    }

    @Override
    public void mkdirs(String dir) throws IOException {
        Path p = new Path(dir);
        fs(p).mkdirs(p);
    }

    @Override
    public List<String> list(String dir) throws IOException {
        Path p = new Path(dir);
        FileStatus[] children;
        try {
            children = fs(p).listStatus(p);
        } catch (FileNotFoundException e) {
            return List.of();
        }
        Arrays.sort(children, Comparator.comparing(s -> s.getPath().getName()));
        List<String> out = new ArrayList<>();
        for (FileStatus s : children) {
            out.add(s.getPath().toString());
        }
        return out;
    }
}
