package dev.lattice.spark.bench;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import java.io.InputStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Random;

/**
 * Which way a rank should read an indexed dataset's {@code .bin} on HDFS (issue 5 asks to measure): positioned reads
 * ({@code FSDataInputStream.readFully(pos, ...)}) per sample, or one local copy and then memory-mapped reads — what
 * {@code DataCache} does. Reads {@code samples} random samples of {@code (seq-length + 1)} uint16 tokens.
 * A benchmark, not a test: run it with the test classpath (docs/benchmarks.md has the command).
 * Arguments: [megabytes=256] [samples=20000] [seq-length=1024].
 */
public final class HdfsSampleReadBenchmark {

    public static void main(String[] args) throws Exception {
        int mb = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int samples = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
        int seq = args.length > 2 ? Integer.parseInt(args[2]) : 1024;
        java.nio.file.Path base = Files.createTempDirectory("lattice-hdfs-bench");
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.toString());
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        try {
            cluster.waitActive();
            FileSystem fs = cluster.getFileSystem();
            Path bin = new Path("/bench/corpus_text_document.bin");
            long size = (long) mb << 20;
            byte[] block = new byte[1 << 20];
            new Random(1).nextBytes(block);
            try (FSDataOutputStream out = fs.create(bin, true)) {
                for (int i = 0; i < mb; i++) {
                    out.write(block);
                }
            }
            int sampleBytes = (seq + 1) * 2;
            long[] offsets = new long[samples];
            Random r = new Random(7);
            for (int i = 0; i < samples; i++) {
                offsets[i] = (long) (r.nextDouble() * (size - sampleBytes)) & ~1L;
            }
            byte[] buf = new byte[sampleBytes];
            for (int round = 0; round < 2; round++) { // round 0 warms the JIT and the OS cache
                long t0 = System.nanoTime();
                long sum = 0;
                try (FSDataInputStream in = fs.open(bin)) {
                    for (long off : offsets) {
                        in.readFully(off, buf, 0, sampleBytes);
                        sum += buf[0];
                    }
                }
                double positioned = (System.nanoTime() - t0) / 1e9;

                java.nio.file.Path local = base.resolve("copy.bin");
                long t1 = System.nanoTime();
                try (InputStream in = fs.open(bin)) {
                    Files.copy(in, local, StandardCopyOption.REPLACE_EXISTING);
                }
                double copy = (System.nanoTime() - t1) / 1e9;
                long t2 = System.nanoTime();
                try (FileChannel ch = FileChannel.open(local)) {
                    MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
                    for (long off : offsets) {
                        map.get((int) off, buf, 0, sampleBytes);
                        sum += buf[0];
                    }
                }
                double mapped = (System.nanoTime() - t2) / 1e9;
                Files.delete(local);
                if (round == 1) {
                    System.out.printf(Locale.ROOT, "dataset %d MB on MiniDFSCluster, %d random samples of %d tokens"
                            + " (checksum %d)%n", mb, samples, seq + 1, sum);
                    System.out.printf(Locale.ROOT, "positioned reads: %.2f s = %.0f samples/s (%.1f us/sample)%n",
                            positioned, samples / positioned, positioned * 1e6 / samples);
                    System.out.printf(Locale.ROOT, "local copy: %.2f s (%.0f MB/s), then mmap reads: %.3f s = %.0f"
                            + " samples/s (%.2f us/sample)%n", copy, mb / copy, mapped, samples / mapped,
                            mapped * 1e6 / samples);
                    System.out.printf(Locale.ROOT, "break-even: the copy pays off after %.0f samples%n",
                            copy / (positioned / samples - mapped / samples));
                }
            }
        } finally {
            cluster.shutdown();
        }
    }
}
