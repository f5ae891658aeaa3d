package dev.lattice.spark.train;

import dev.lattice.spark.testing.SparkSubmitRunner;
import dev.lattice.trainer.cli.TrainCommand;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.lattice.spark.train.TrainFixtures.args;
import static dev.lattice.spark.train.TrainFixtures.corpus;
import static dev.lattice.spark.train.TrainFixtures.losses;
import static dev.lattice.spark.train.TrainFixtures.sink;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two-dimensional layouts on four ranks (TP2×DP2, PP2×DP2): spark-submit with {@code --master local[4]} runs the
 * barrier stage in its own JVM, and its losses must equal the standalone launcher's (ranks as threads) bit for bit.
 */
class FourRankLayoutsTest {

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"--tensor-model-parallel-size 2", "--pipeline-model-parallel-size 2"})
    void sparkSubmitInLocal4EqualsTheStandaloneLauncher(String parallel) throws Exception {
        String data = corpus(tmp);
        List<String> layout = new ArrayList<>(List.of("--world-size", "4"));
        layout.addAll(Arrays.asList(parallel.split(" ")));
        Path standalone = tmp.resolve("standalone");
        List<String> a = args(data, standalone);
        a.addAll(layout);
        assertEquals(0, TrainCommand.execute(a.toArray(new String[0]), sink(new ByteArrayOutputStream()), System.err));

        Path spark = tmp.resolve("spark");
        List<String> b = args(data, spark);
        b.addAll(layout);
        SparkSubmitRunner.Result r = SparkSubmitRunner.submit(tmp, "local[4]", TrainJob.class.getName(), b, 300);
        assertTrue(r.finished(), "spark-submit did not finish in 300 s:\n" + r.output());
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("training finished on 4 ranks"), r.output());
        assertTrue(r.output().contains(" iteration       12/      12 |"), r.output());
        List<Double> expected = losses(standalone);
        assertEquals(12, expected.size());
        assertEquals(expected, losses(spark), "TP/PP x DP2 as barrier tasks = as threads, bit for bit");
    }
}
