package dev.lattice.spark.preprocess;

import dev.lattice.data.parquet.TokenRow;
import dev.lattice.data.parquet.TokenShardReader;
import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.testing.SparkTestSession;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static dev.lattice.spark.preprocess.PreprocessFixtures.assertDataset;
import static dev.lattice.spark.preprocess.PreprocessFixtures.expectedIds;
import static dev.lattice.spark.preprocess.PreprocessFixtures.jsonLine;
import static dev.lattice.spark.preprocess.PreprocessFixtures.options;
import static dev.lattice.spark.preprocess.PreprocessFixtures.quiet;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reads input from and writes outputs to a real HDFS (MiniDFSCluster: NameNode + one DataNode in this JVM). */
class HdfsPreprocessTest {

    static MiniDFSCluster cluster;
    static java.nio.file.Path base;

    @BeforeAll
    static void startHdfs() throws IOException {
        base = Files.createTempDirectory("lattice-hdfs");
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.toString());
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        if (cluster != null) {
            cluster.shutdown();
        }
        new HadoopStorage(new Configuration()).delete(base.toUri().toString());
    }

    /** The trainer's checkpoints go through the Hadoop storage provider: save to HDFS, then resume from it. */
    @Test
    void trainerSavesAndResumesCheckpointsOnHdfs() throws IOException {
        java.nio.file.Path local = Files.createTempDirectory("lattice-hdfs-train");
        java.nio.file.Path text = local.resolve("docs.jsonl");
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 60; i++) {
            lines.add(jsonLine("text", "Document " + i + " says hello to the distributed file system."));
        }
        Files.write(text, lines);
        PreprocessJob.run(SparkTestSession.get(), options(local.resolve("corpus").toString(), text.toString()),
                quiet());
        String data = local.resolve("corpus_text_document").toString();
        String save = cluster.getURI() + "/user/lattice/checkpoints";
        String[] common = {"--model", "gpt2", "--num-layers", "1", "--hidden-size", "16", "--num-attention-heads",
                "2", "--seq-length", "8", "--micro-batch-size", "2", "--global-batch-size", "2", "--lr", "1e-3",
                "--data-path", data, "--split", "100,0,0", "--log-interval", "1", "--eval-iters", "0",
                "--save", save};
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        String[] first = java.util.stream.Stream.concat(java.util.Arrays.stream(common),
                java.util.stream.Stream.of("--train-iters", "4", "--exit-interval", "2")).toArray(String[]::new);
        assertEquals(0, dev.lattice.trainer.cli.TrainCommand.execute(first, new java.io.PrintStream(out, true),
                new java.io.PrintStream(err, true)), err.toString());
        FileSystem fs = cluster.getFileSystem();
        assertTrue(fs.exists(new Path(save + "/iter_0000002/mp_rank_00/model.safetensors")));
        try (var in = fs.open(new Path(save + "/latest_checkpointed_iteration.txt"))) {
            assertEquals("2", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        String[] resume = java.util.stream.Stream.concat(java.util.Arrays.stream(common),
                java.util.stream.Stream.of("--train-iters", "4", "--load", save)).toArray(String[]::new);
        out.reset();
        assertEquals(0, dev.lattice.trainer.cli.TrainCommand.execute(resume, new java.io.PrintStream(out, true),
                new java.io.PrintStream(err, true)), err.toString());
        assertTrue(out.toString().contains("loaded checkpoint from " + save + " at iteration 2"), out.toString());
        try (var in = fs.open(new Path(save + "/latest_checkpointed_iteration.txt"))) {
            assertEquals("4", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void preprocessesFromAndToHdfs() throws IOException {
        String root = cluster.getURI() + "/user/lattice";
        FileSystem fs = cluster.getFileSystem();
        List<String> texts = List.of("Hello HDFS", "second document", "");
        try (OutputStream out = fs.create(new Path(root + "/in/part-0.jsonl"))) {
            for (String t : texts) {
                out.write((jsonLine("text", t) + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        PreprocessOptions o = options(root + "/out/corpus", root + "/in");
        o.appendEod = true;
        PreprocessSummary s = PreprocessJob.run(SparkTestSession.get(), o, quiet());
        assertEquals(3, s.documents());

        java.nio.file.Path local = Files.createTempDirectory("lattice-hdfs-copy");
        for (String ext : new String[] {".bin", ".idx"}) {
            fs.copyToLocalFile(new Path(root + "/out/corpus_text_document" + ext),
                    new Path(local.resolve("corpus" + ext).toUri()));
        }
        assertDataset(local.resolve("corpus"), texts, true);

        Path shards = new Path(root + "/out/corpus_text_document_shards");
        assertTrue(fs.exists(new Path(shards, "_SUCCESS")));
        try (TokenShardReader r = TokenShardReader.open(new Path(shards, "part-00000.parquet"), fs.getConf())) {
            TokenRow first = r.next();
            assertEquals(0, first.documentId());
            assertArrayEquals(expectedIds("Hello HDFS", true), first.tokens());
        }
        for (var st : fs.listStatus(new Path(root + "/out"))) {
            String name = st.getPath().getName();
            assertTrue(!name.contains("staging") && !name.contains("inprogress"), "leftover " + name);
        }
    }
}
