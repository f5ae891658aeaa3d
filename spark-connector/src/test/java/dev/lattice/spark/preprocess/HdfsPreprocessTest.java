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
