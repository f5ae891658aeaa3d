package dev.lattice.spark.train;

import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.checkpoint.CheckpointStore;
import dev.lattice.trainer.cli.TrainCommand;
import dev.lattice.trainer.cli.TrainOptions;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import scala.reflect.ClassTag$;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * {@code lattice train --spark MASTER} / {@code spark-submit --class dev.lattice.spark.train.TrainJob}: training as
 * one Spark barrier stage of world = TP × PP × DP tasks (rank = partition id), with the flags of
 * {@code lattice train} plus {@code --max-restarts} and {@code --restart-backoff-seconds}. Spark never retries a
 * failed barrier result stage, so the driver owns the restart loop: it resubmits the stage and every rank resumes
 * from the last committed checkpoint. {@code --devices cpu} (the default) runs the ranks as threads of one JVM
 * (Spark local mode) over an in-JVM communicator; {@code --devices cuda} gives every rank a GPU of its own
 * ({@code spark.task.resource.gpu.amount=1} on a cluster; in {@code local[N]} rank r takes the host's GPU r) and
 * NCCL between them, across executors too, with the NCCL ids handed round at the rendezvous ({@link RankTask}).
 */
public final class TrainJob {

    private TrainJob() {
    }

    /** Job-level flags, taken out of the argument list before the trainer sees it. */
    public record JobOptions(int maxRestarts, double backoffSeconds, String master, List<String> trainArgs) {

        public static JobOptions parse(String[] args) {
            int restarts = 0;
            double backoff = 1;
            String master = null;
            List<String> rest = new ArrayList<>();
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--max-restarts" -> restarts = Integer.parseInt(value(args, ++i, "--max-restarts"));
                    case "--restart-backoff-seconds" -> backoff = Double.parseDouble(value(args, ++i,
                            "--restart-backoff-seconds"));
                    case "--master", "--spark" -> master = value(args, ++i, args[i - 1]);
                    default -> rest.add(args[i]);
                }
            }
            if (restarts < 0) {
                throw new IllegalArgumentException("--max-restarts must be >= 0, got " + restarts);
            }
            return new JobOptions(restarts, backoff, master, rest);
        }

        private static String value(String[] a, int i, String flag) {
            if (i >= a.length) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            return a[i];
        }
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        SparkSession created = null;
        try {
            JobOptions job = JobOptions.parse(args);
            boolean existing = SparkSession.getActiveSession().isDefined()
                    || SparkSession.getDefaultSession().isDefined();
            SparkSession.Builder b = SparkSession.builder().appName("lattice-train")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.barrier.sync.timeout", "3600");
            if (job.master() != null) {
                b.master(job.master());
            } else if (!new SparkConf().contains("spark.master")) {
                b.master("local[*]");
            }
            SparkSession spark = b.getOrCreate();
            if (!existing) {
                created = spark;
            }
            run(spark, job, out);
            return 0;
        } catch (IllegalArgumentException | IllegalStateException e) {
            err.println("lattice train (spark): " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("lattice train (spark): failed: " + rootMessage(e));
            return 1;
        } finally {
            if (created != null) {
                created.stop();
            }
        }
    }

    /** Validates the setup against the cluster, then runs the barrier stage with restarts. */
    public static void run(SparkSession spark, JobOptions job, PrintStream out) throws IOException {
        String[] trainArgs = job.trainArgs().toArray(new String[0]);
        TrainCommand.Parsed parsed = TrainCommand.parse(trainArgs);
        TrainOptions o = parsed.options();
        Topology topology = new Topology(o.worldSize, o.tensorParallel, 1, o.pipelineParallel);
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        checkCluster(spark, topology.world(), cudaDevices(o));
        if (!spark.sparkContext().getConf().contains("spark.barrier.sync.timeout")) {
            out.println(" > warning: spark.barrier.sync.timeout is not set (Spark's default is a year); a rank that"
                    + " never reaches the rendezvous would hold the others that long. Set e.g. 3600.");
        }
        dev.lattice.spark.storage.SerializableConfiguration hadoop = new dev.lattice.spark.storage
                .SerializableConfiguration(dev.lattice.spark.storage.OutputConfiguration.from(
                        spark.sparkContext().hadoopConfiguration()));
        dev.lattice.spark.storage.HadoopStorageProvider.use(hadoop.get());
        // The driver prepares once before launching: configuration errors fail here, not in every rank of every
        // attempt, and the sample-index caches exist when the ranks start.
        TrainCommand.prepare(o, parsed.explicit(), new PrintStream(java.io.OutputStream.nullOutputStream()));
        String driverHost = spark.sparkContext().getConf().get("spark.driver.host",
                java.net.InetAddress.getLocalHost().getHostAddress());
        try (ProgressRelay progress = new ProgressRelay(driverHost, out)) {
            runAttempts(spark, jsc, job, trainArgs, o, topology, hadoop, progress, out);
        }
    }

    /** Spark never retries a failed barrier ResultStage: the driver resubmits it, resuming from the checkpoint. */
    private static void runAttempts(SparkSession spark, JavaSparkContext jsc, JobOptions job, String[] trainArgs,
                                    TrainOptions o, Topology topology,
                                    dev.lattice.spark.storage.SerializableConfiguration hadoop,
                                    ProgressRelay progress, PrintStream out) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String[] attemptArgs = argsForAttempt(trainArgs, o, attempt);
            jsc.setJobGroup("lattice-train", "Lattice training, attempt " + (attempt + 1) + ": " + topology, true);
            try {
                List<Integer> ranks = IntStream.range(0, topology.world()).boxed().toList();
                List<String> done = jsc.parallelize(ranks, topology.world()).rdd().barrier()
                        .mapPartitions(new RankTask(attemptArgs, hadoop, progress.address()), false,
                                ClassTag$.MODULE$.apply(String.class))
                        .toJavaRDD().collect();
                progress.drain();
                out.println(" > training finished on " + done.size() + " ranks (attempt " + (attempt + 1) + ")");
                return;
            } catch (Exception e) { // SparkException is checked in Java but thrown undeclared by Scala
                progress.drain();
                if (RankSetupException.in(e)) { // a restart would fail the same way
                    throw new IllegalStateException("training cannot start (not restarting): " + rootMessage(e), e);
                }
                if (attempt < job.maxRestarts()) {
                    out.println(" > attempt " + (attempt + 1) + " failed: " + rootMessage(e) + "; restarting"
                            + (o.save != null ? " from the last checkpoint in " + o.save : " from scratch (no --save)")
                            + " in " + job.backoffSeconds() + " s");
                    sleep(job.backoffSeconds());
                    continue;
                }
                throw new IllegalStateException("training failed after " + (attempt + 1) + " attempt(s): "
                        + rootMessage(e), e);
            }
        }
    }

    /** Attempt 0 runs the arguments as given; restarts drop fault drills and resume from --save's checkpoint. */
    static String[] argsForAttempt(String[] args, TrainOptions o, int attempt) throws IOException {
        if (attempt == 0) {
            return args;
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--fail-at-iteration") || args[i].equals("--fail-rank")
                    || args[i].equals("--hang-at-iteration")) {
                i++;
                continue;
            }
            out.add(args[i]);
        }
        if (o.save != null && new CheckpointStore(o.save).latestIteration() >= 0) {
            out.add("--load");
            out.add(o.save);
        }
        return out.toArray(new String[0]);
    }

    /** Fails fast where Spark would hang or fail late (shared/reference/spark-notes.md). */
    static void checkCluster(SparkSession spark, int world, boolean cuda) {
        checkCluster(spark.sparkContext().getConf(), spark.sparkContext().defaultParallelism(),
                spark.sparkContext().isLocal(), world, cuda);
    }

    /** {@link #checkCluster(SparkConf, int, boolean, int, boolean)} for CPU ranks ({@code --devices cpu}). */
    static void checkCluster(SparkConf conf, int slots, boolean local, int world) {
        checkCluster(conf, slots, local, world, false);
    }

    /**
     * @param local Spark local mode ({@code local}, {@code local[N]}: all tasks are threads of the driver JVM)
     * @param cuda {@code --devices cuda}: one GPU per rank, NCCL between them
     */
    static void checkCluster(SparkConf conf, int slots, boolean local, int world, boolean cuda) {
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
            throw new IllegalArgumentException("barrier training needs spark.dynamicAllocation.enabled=false"
                    + " (Spark's barrier mode does not support dynamic allocation)");
        }
        if (world > slots) {
            throw new IllegalArgumentException("the layout needs " + world + " ranks, but the cluster offers "
                    + slots + " task slots (spark.default.parallelism / local[N]); a barrier stage needs all of its"
                    + " tasks at once");
        }
        String gpuAmount = conf.contains("spark.task.resource.gpu.amount")
                ? conf.get("spark.task.resource.gpu.amount").trim() : null;
        if (gpuAmount != null && gpuAmountValue(gpuAmount) != 1.0) {
            throw new IllegalArgumentException("spark.task.resource.gpu.amount must be 1 (one GPU per rank), got "
                    + gpuAmount);
        }
        if (cuda) {
            if (local && gpuAmount != null) {
                throw new IllegalArgumentException("--devices cuda in Spark local mode: Spark assigns no GPUs to"
                        + " local tasks (a barrier stage that asks for them hangs), so unset"
                        + " spark.task.resource.gpu.amount; in local[N] rank r trains on the host's GPU r");
            }
            if (!local && gpuAmount == null) {
                throw new IllegalArgumentException("--devices cuda needs exactly one GPU per rank: set"
                        + " spark.task.resource.gpu.amount=1 (with spark.executor.resource.gpu.amount and a GPU"
                        + " discovery script), so that Spark gives every barrier task a GPU of its own");
            }
            return;
        }
        if (!local) {
            throw new IllegalArgumentException("CPU ranks share an in-JVM communicator, so --devices cpu trains in"
                    + " Spark local mode (--master local[N]); multi-executor training needs --devices cuda"
                    + " (NCCL between the GPUs)");
        }
    }

    private static double gpuAmountValue(String amount) {
        try {
            return Double.parseDouble(amount);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("spark.task.resource.gpu.amount must be 1 (one GPU per rank), got '"
                    + amount + "'");
        }
    }

    /** {@code --devices}: cuda (or gpu) trains each rank on a GPU of its own, cpu on the CPU backend. */
    static boolean cudaDevices(TrainOptions o) {
        String d = o.devices == null ? "cpu" : o.devices.toLowerCase(java.util.Locale.ROOT);
        return switch (d) {
            case "cpu" -> false;
            case "cuda", "gpu" -> true;
            default -> throw new IllegalArgumentException("--devices must be cpu or cuda, got '" + o.devices + "'");
        };
    }

    private static void sleep(double seconds) {
        try {
            Thread.sleep((long) (seconds * 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The reason a user needs: the failing rank's own exception rather than Spark's "Could not recover from a failed
     * barrier ResultStage" or the peers' "world was aborted".
     */
    /**
     * A peer's "... the world was aborted (rank R failed: SomeException: why)" names the failing rank's reason in
     * parentheses: which task failure Spark reports first is a race, so dig it out of whichever arrived.
     */
    static String abortCause(String reason) {
        int open = reason.indexOf("world was aborted (");
        int close = reason.lastIndexOf(')');
        if (open < 0 || close < open) {
            return reason;
        }
        String inner = reason.substring(open + "world was aborted (".length(), close);
        int at = inner.indexOf("Exception: ");
        return at < 0 ? inner : inner.substring(at + "Exception: ".length()).trim();
    }

    static String rootMessage(Throwable e) {
        String fallback = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            String msg = String.valueOf(t.getMessage());
            for (String line : msg.split("\n")) {
                int at = line.indexOf("Exception: ");
                if (at < 0) {
                    continue;
                }
                String reason = line.substring(at + "Exception: ".length()).trim();
                if (!reason.contains("world was aborted") && !reason.startsWith("Job aborted")) {
                    return reason;
                }
                if (fallback == null) {
                    fallback = abortCause(reason);
                }
            }
            if (t.getCause() == null && fallback == null) {
                int nl = msg.indexOf('\n');
                fallback = nl > 0 ? msg.substring(0, nl) : msg;
            }
        }
        return fallback;
    }
}
