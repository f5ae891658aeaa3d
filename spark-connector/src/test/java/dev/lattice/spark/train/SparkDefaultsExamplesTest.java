package dev.lattice.spark.train;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * conf/spark/spark-defaults-*.conf (standalone, YARN, Kubernetes with GPU scheduling) pass the driver's checks for a
 * 64-rank {@code --devices cuda} job on 8 executors of 8 GPUs, the same checks that reject the usual mistakes.
 */
class SparkDefaultsExamplesTest {

    private static SparkConf load(Path file) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r); // spark-defaults.conf is whitespace-separated key value, which Properties reads
        }
        SparkConf conf = new SparkConf(false);
        p.forEach((k, v) -> conf.set(k.toString(), v.toString().trim()));
        return conf;
    }

    @Test
    void everyClusterManagerExampleAcceptsAGpuJob() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(Path.of("..", "conf", "spark"))) {
            files = s.filter(f -> f.getFileName().toString().startsWith("spark-defaults-")).sorted().toList();
        }
        assertEquals(3, files.size(), files.toString());
        for (Path f : files) {
            SparkConf conf = load(f);
            assertEquals("1", conf.get("spark.task.resource.gpu.amount"), f.toString());
            assertTrue(conf.get("spark.executor.resource.gpu.discoveryScript").endsWith("gpu-discovery.sh"),
                    f.toString());
            TrainJob.checkCluster(conf, 64, false, 64, true); // 8 executors × 8 GPUs
            // and the same file with dynamic allocation switched on is refused
            SparkConf dynamic = conf.clone().set("spark.dynamicAllocation.enabled", "true");
            assertThrows(IllegalArgumentException.class, () -> TrainJob.checkCluster(dynamic, 64, false, 64, true));
        }
    }
}
