package dev.lattice.spark.preprocess;

import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.testing.SparkTestSession;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.lattice.spark.preprocess.PreprocessFixtures.assertDataset;
import static dev.lattice.spark.preprocess.PreprocessFixtures.jsonLine;
import static dev.lattice.spark.preprocess.PreprocessFixtures.options;
import static dev.lattice.spark.preprocess.PreprocessFixtures.quiet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reads from and writes to S3 through s3a:// against s3proxy, started out of process on loopback (its AWS SDK must
 * not meet hadoop-aws's in one JVM). The build copies s3proxy's jar to target/s3proxy/.
 */
class S3PreprocessTest {

    static final String BUCKET = "lattice-test";
    static Process s3proxy;
    static Path base;
    static int port;

    @BeforeAll
    static void startS3proxy() throws Exception {
        Path jar = Path.of(System.getProperty("lattice.s3proxy.jar", "target/s3proxy/s3proxy.jar"));
        assertTrue(Files.isRegularFile(jar), "s3proxy jar missing at " + jar + " (mvn generate-test-resources)");
        base = Files.createTempDirectory("lattice-s3");
        Files.createDirectories(base.resolve("blobs").resolve(BUCKET));
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path props = base.resolve("s3proxy.conf");
        Files.writeString(props, String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=local-identity",
                "s3proxy.credential=local-credential",
                "jclouds.provider=filesystem",
                "jclouds.filesystem.basedir=" + base.resolve("blobs"), ""));
        s3proxy = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m", "-jar", jar.toString(), "--properties", props.toString())
                .redirectErrorStream(true).redirectOutput(base.resolve("s3proxy.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                break;
            } catch (IOException e) {
                if (!s3proxy.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("s3proxy did not start on port " + port + ": "
                            + Files.readString(base.resolve("s3proxy.log")));
                }
                Thread.sleep(200);
            }
        }
        Configuration conf = SparkTestSession.get().sparkContext().hadoopConfiguration();
        String b = "fs.s3a.bucket." + BUCKET + ".";
        conf.set(b + "endpoint", "http://127.0.0.1:" + port);
        conf.set(b + "endpoint.region", "us-east-1");
        conf.set(b + "path.style.access", "true");
        conf.set(b + "connection.ssl.enabled", "false");
        conf.set(b + "access.key", "local-identity");
        conf.set(b + "secret.key", "local-credential");
        conf.set(b + "aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        conf.set(b + "change.detection.mode", "none");
    }

    @AfterAll
    static void stopS3proxy() throws Exception {
        if (s3proxy != null) {
            s3proxy.destroy();
            s3proxy.waitFor(10, TimeUnit.SECONDS);
        }
        new HadoopStorage(new Configuration()).delete(base.toUri().toString());
    }

    /** Preprocess to S3, then train as a barrier stage reading the dataset from and checkpointing to S3. */
    @Test
    void trainsWithDataAndCheckpointsOnS3() throws Exception {
        HadoopStorage s3 = new HadoopStorage(SparkTestSession.get().sparkContext().hadoopConfiguration());
        String root = "s3a://" + BUCKET + "/training";
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 60; i++) {
            lines.add(jsonLine("text", "Document " + i + " is an object in a bucket, read by a training rank."));
        }
        try (OutputStream out = s3.create(root + "/in/docs.jsonl", true)) {
            out.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        PreprocessJob.run(SparkTestSession.get(), options(root + "/data/corpus", root + "/in/docs.jsonl"), quiet());
        String save = root + "/checkpoints";
        String[] args = {"--model", "gpt2", "--num-layers", "1", "--hidden-size", "16", "--num-attention-heads", "2",
            "--seq-length", "8", "--micro-batch-size", "2", "--global-batch-size", "4", "--train-iters", "4",
            "--lr", "1e-3", "--data-path", root + "/data/corpus_text_document", "--split", "100,0,0",
            "--log-interval", "2", "--eval-iters", "0", "--save", save, "--world-size", "2", "--zero-stage", "1"};
        dev.lattice.spark.train.TrainJob.run(SparkTestSession.get(),
                dev.lattice.spark.train.TrainJob.JobOptions.parse(args), quiet());
        try (InputStream in = s3.open(save + "/latest_checkpointed_iteration.txt")) {
            assertEquals("4", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        assertTrue(s3.exists(save + "/iter_0000004/mp_rank_00/model.safetensors"));
        assertTrue(s3.exists(save + "/iter_0000004/mp_rank_00/optimizer_dp_001.safetensors"));
        assertTrue(s3.exists(save + "/iter_0000004/state.json"));
    }

    @Test
    void preprocessesFromAndToS3() throws IOException {
        HadoopStorage s3 = new HadoopStorage(SparkTestSession.get().sparkContext().hadoopConfiguration());
        String root = "s3a://" + BUCKET + "/corpus";
        List<String> texts = List.of("Hello S3", "objects are not files", "third");
        try (OutputStream out = s3.create(root + "/in/docs.jsonl", true)) {
            for (String t : texts) {
                out.write((jsonLine("text", t) + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        PreprocessOptions o = options(root + "/out/web", root + "/in/docs.jsonl");
        PreprocessSummary summary = PreprocessJob.run(SparkTestSession.get(), o, quiet());
        assertEquals(3, summary.documents());

        Path local = Files.createTempDirectory("lattice-s3-copy");
        for (String ext : new String[] {".bin", ".idx"}) {
            try (InputStream in = s3.open(root + "/out/web_text_document" + ext)) {
                Files.copy(in, local.resolve("web" + ext));
            }
        }
        assertDataset(local.resolve("web"), texts, false);
        assertTrue(s3.exists(root + "/out/web_text_document_shards/_SUCCESS"));
        assertTrue(s3.exists(root + "/out/web_text_document_shards/part-00000.parquet"));
        // Objects, not listings: s3proxy's filesystem backend keeps empty directories that real S3 has no notion of.
        org.apache.hadoop.fs.Path out = new org.apache.hadoop.fs.Path(root + "/out");
        var files = out.getFileSystem(s3.configuration()).listFiles(out, true);
        while (files.hasNext()) {
            String p = files.next().getPath().toString();
            assertFalse(p.contains("staging") || p.contains("inprogress"), "leftover " + p);
        }
    }
}
