package dev.lattice.spark.train;

import dev.lattice.data.indexed.IndexedDatasetOutput;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.storage.LocalStorage;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.Tokenizers;
import dev.lattice.spark.testing.SparkTestSession;
import dev.lattice.trainer.cli.TrainCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.lattice.spark.train.TrainFixtures.args;
import static dev.lattice.spark.train.TrainFixtures.corpus;
import static dev.lattice.spark.train.TrainFixtures.losses;
import static dev.lattice.spark.train.TrainFixtures.sink;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Training as a Spark barrier stage in local[2]: ranks are tasks, the driver restarts failed stages. */
class TrainJobTest {


    @TempDir
    Path tmp;

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"--tensor-model-parallel-size 2",
            "--pipeline-model-parallel-size 2", "--zero-stage 1"})
    void barrierStageEqualsTheStandaloneLauncher(String parallel) throws Exception {
        String data = corpus(tmp);
        Path standalone = tmp.resolve("standalone");
        List<String> layout = new ArrayList<>(List.of("--world-size", "2"));
        layout.addAll(List.of(parallel.split(" ")));
        List<String> a = args(data, standalone);
        a.addAll(layout);
        assertEquals(0, TrainCommand.execute(a.toArray(new String[0]), sink(new ByteArrayOutputStream()), System.err));
        Path spark = tmp.resolve("spark");
        List<String> b = args(data, spark);
        b.addAll(layout);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TrainJob.run(SparkTestSession.get(), TrainJob.JobOptions.parse(b.toArray(new String[0])), sink(out));
        String driverLog = out.toString(StandardCharsets.UTF_8);
        assertTrue(driverLog.contains("training finished on 2 ranks"), driverLog);
        // the logging rank's Megatron lines reach the driver through the progress relay, before the stage ends
        int lastIteration = driverLog.lastIndexOf(" iteration ");
        assertTrue(lastIteration >= 0 && lastIteration < driverLog.indexOf("training finished"), driverLog);
        assertTrue(driverLog.contains("lm loss:") && driverLog.contains("tokens per second"), driverLog);
        assertEquals(losses(standalone), losses(spark), "ranks as barrier tasks = ranks as threads, bit for bit");
    }

    @Test
    void aFailedRankIsRestartedFromTheLastCheckpoint() throws Exception {
        String data = corpus(tmp);
        Path whole = tmp.resolve("whole");
        List<String> base = List.of("--world-size", "2", "--zero-stage", "1", "--save-interval", "4");
        List<String> a = args(data, whole);
        a.addAll(base);
        TrainJob.run(SparkTestSession.get(), TrainJob.JobOptions.parse(a.toArray(new String[0])),
                sink(new ByteArrayOutputStream()));
        Path drill = tmp.resolve("drill");
        List<String> b = args(data, drill, "--fail-at-iteration", "6", "--fail-rank", "1", "--max-restarts", "2",
                "--restart-backoff-seconds", "0");
        b.addAll(base);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TrainJob.run(SparkTestSession.get(), TrainJob.JobOptions.parse(b.toArray(new String[0])), sink(out));
        String log = out.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("attempt 1 failed: fault drill: rank 1 fails after iteration 6"), log);
        assertTrue(log.contains("training finished on 2 ranks (attempt 2)"), log);
        List<Double> uninterrupted = losses(whole);
        List<Double> recovered = losses(drill); // iterations 1-6, then 5-12 again from the checkpoint at 4
        assertEquals(6 + 8, recovered.size());
        assertEquals(uninterrupted.subList(4, 12), recovered.subList(6, 14), "resumed losses equal the originals");
    }

    /** A rank that stops answering: its peers time out in their collective, the stage fails and is restarted. */
    @Test
    void aHungRankTimesOutAndTheRunRecovers() throws Exception {
        String data = corpus(tmp);
        Path hang = tmp.resolve("hang");
        List<String> a = args(data, hang, "--hang-at-iteration", "5", "--fail-rank", "0", "--max-restarts", "1",
                "--restart-backoff-seconds", "0", "--world-size", "2", "--save-interval", "4",
                "--distributed-timeout-minutes", "0.05");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        TrainJob.run(SparkTestSession.get(), TrainJob.JobOptions.parse(a.toArray(new String[0])), sink(out));
        String log = out.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("attempt 1 failed: rank 1 waited 3000 ms in allGather")
                || log.contains("attempt 1 failed: rank 1 waited 3000 ms"), log);
        assertTrue(log.contains("training finished on 2 ranks (attempt 2)"), log);
        assertTrue(System.nanoTime() - t0 < 60_000_000_000L, "failed within the timeout, not after Spark's 365 days");
    }

    @Test
    void dynamicAllocationAndGpuAmountsAreChecked() {
        org.apache.spark.SparkConf dyn = new org.apache.spark.SparkConf().set("spark.dynamicAllocation.enabled", "true");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(dyn, 8, true, 4));
        assertTrue(e.getMessage().contains("spark.dynamicAllocation.enabled=false"), e.getMessage());
        org.apache.spark.SparkConf half = new org.apache.spark.SparkConf().set("spark.task.resource.gpu.amount", "0.5");
        IllegalArgumentException g = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(half, 8, true, 4));
        assertTrue(g.getMessage().contains("spark.task.resource.gpu.amount must be 1"), g.getMessage());
    }

    @Test
    void cudaRanksNeedExactlyOneSparkGpuEachOutsideLocalMode() {
        org.apache.spark.SparkConf none = new org.apache.spark.SparkConf();
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(none, 8, false, 4, true));
        assertTrue(missing.getMessage().contains("--devices cuda needs exactly one GPU per rank: set"
                + " spark.task.resource.gpu.amount=1"), missing.getMessage());
        org.apache.spark.SparkConf two = new org.apache.spark.SparkConf().set("spark.task.resource.gpu.amount", "2");
        IllegalArgumentException g = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(two, 8, false, 4, true));
        assertTrue(g.getMessage().contains("spark.task.resource.gpu.amount must be 1 (one GPU per rank), got 2"),
                g.getMessage());
        org.apache.spark.SparkConf one = new org.apache.spark.SparkConf().set("spark.task.resource.gpu.amount", "1");
        TrainJob.checkCluster(one, 8, false, 4, true); // a GPU cluster: fine
        TrainJob.checkCluster(none, 8, true, 2, true); // local[N]: Spark assigns no GPUs, ranks take the host's
        IllegalArgumentException local = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(one, 8, true, 2, true));
        assertTrue(local.getMessage().contains("unset spark.task.resource.gpu.amount"), local.getMessage());
        // CPU ranks keep needing local mode (one JVM), whatever the GPU settings
        IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class,
                () -> TrainJob.checkCluster(one, 8, false, 4));
        assertTrue(cpu.getMessage().contains("needs --devices cuda"), cpu.getMessage());
        TrainJob.checkCluster(none, 8, true, 4);
        IllegalArgumentException devices = assertThrows(IllegalArgumentException.class, () -> TrainJob.run(
                SparkTestSession.get(), TrainJob.JobOptions.parse(args("x", tmp.resolve("s"), "--world-size", "2",
                        "--devices", "tpu").toArray(new String[0])), sink(new ByteArrayOutputStream())));
        assertTrue(devices.getMessage().contains("--devices must be cpu or cuda, got 'tpu'"), devices.getMessage());
    }

    /** No CUDA on the executors: every rank fails at the rendezvous, naming a rank's host and why. */
    @Test
    void cudaOnExecutorsWithoutCudaFailsAtTheRendezvousNamingTheHost() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.lattice.parallel.cuda.Cuda.available(),
                "this machine has CUDA");
        String data = corpus(tmp);
        List<String> a = args(data, tmp.resolve("cuda"), "--world-size", "2", "--devices", "cuda",
                "--tensor-model-parallel-size", "2", "--max-restarts", "3"); // not spent: nothing would change
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> TrainJob.run(
                SparkTestSession.get(), TrainJob.JobOptions.parse(a.toArray(new String[0])), sink(out)));
        String host = java.net.InetAddress.getLocalHost().getHostName();
        assertTrue(e.getMessage().contains("training cannot start (not restarting): rank 0 on " + host
                + " cannot train: --devices cuda, but this executor cannot use CUDA: "
                + dev.lattice.parallel.cuda.Cuda.unavailableReason()), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 30_000_000_000L, "failed at the rendezvous, before any training");
        assertTrue(!out.toString(StandardCharsets.UTF_8).contains(" iteration "), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void setupsSparkCannotRunFailFast() {
        IllegalArgumentException slots = assertThrows(IllegalArgumentException.class, () -> TrainJob.run(
                SparkTestSession.get(), TrainJob.JobOptions.parse(args("x", tmp.resolve("s"), "--world-size", "4")
                        .toArray(new String[0])), sink(new ByteArrayOutputStream())));
        assertTrue(slots.getMessage().contains("needs 4 ranks, but the cluster offers 2 task slots"),
                slots.getMessage());
        IllegalArgumentException divide = assertThrows(IllegalArgumentException.class, () -> TrainJob.run(
                SparkTestSession.get(), TrainJob.JobOptions.parse(args("x", tmp.resolve("s"), "--world-size", "2",
                        "--pipeline-model-parallel-size", "4").toArray(new String[0])),
                sink(new ByteArrayOutputStream())));
        assertTrue(divide.getMessage().contains("--world-size 2 is not divisible"), divide.getMessage());
    }

    @Test
    void aPeersAbortMessageYieldsTheFailingRanksReason() {
        String peer = "rank 0 stopped in allGather of group dp[0,1]: the world was aborted (rank 1 failed:"
                + " java.lang.IllegalStateException: fault drill: rank 1 fails after iteration 6"
                + " (--fail-at-iteration))";
        assertEquals("fault drill: rank 1 fails after iteration 6 (--fail-at-iteration)", TrainJob.abortCause(peer));
        assertEquals("something else", TrainJob.abortCause("something else"));
        RuntimeException spark = new RuntimeException("Job aborted due to stage failure: Task 0 in stage 3.0 failed:"
                + " java.lang.IllegalStateException: " + peer);
        assertEquals("fault drill: rank 1 fails after iteration 6 (--fail-at-iteration)", TrainJob.rootMessage(spark));
    }
}
