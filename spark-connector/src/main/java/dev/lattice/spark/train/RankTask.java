package dev.lattice.spark.train;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.cli.TrainCommand;
import dev.lattice.trainer.engine.TrainingState;
import org.apache.spark.BarrierTaskContext;
import scala.Function1;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;

import java.io.PrintStream;
import java.io.Serializable;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The body of one barrier task = one rank. Rendezvous through {@link BarrierTaskContext}: every rank reports its
 * host, device, build and arguments ({@link RankReport}; a disagreement fails all ranks, naming the difference, and
 * two ranks on one GPU of a host fail too); rank 0 prepares first (it builds the sample-index caches) and creates the
 * communicator world and its id, which the others learn from a second allGather and join; then every rank trains. A failing rank aborts the world so its peers stop waiting at once.
 */
final class RankTask implements Function1<Iterator<Integer>, Iterator<String>>, Serializable {

    private static final long serialVersionUID = 1L;
    private static final String OK = "ok ";

    private final String[] args;
    private final dev.lattice.spark.storage.SerializableConfiguration hadoop;
    private final String progressAddress;

    /** @param progressAddress the driver's {@link ProgressRelay} ({@code host:port}), or null for executor stdout */
    RankTask(String[] args, dev.lattice.spark.storage.SerializableConfiguration hadoop, String progressAddress) {
        this.args = args.clone();
        this.hadoop = hadoop;
        this.progressAddress = progressAddress;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> ignored) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        dev.lattice.spark.storage.HadoopStorageProvider.use(hadoop.get()); // the job's hdfs/s3a settings
        int rank = ctx.partitionId();
        int world = ctx.numPartitions();
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "unknown-host";
        }
        DeviceAssignment.Device device = device(ctx, rank);
        RankReport me = new RankReport(rank, host, device.toString(), RankReport.currentBuild(), List.of(args));
        String[] gathered = ctx.allGather(me.encode());
        RankReport[] reports = new RankReport[gathered.length];
        for (int i = 0; i < gathered.length; i++) {
            reports[i] = RankReport.decode(gathered[i]);
        }
        for (RankReport other : reports) {
            String difference = reports[0].differenceFrom(other);
            if (difference != null) {
                throw new IllegalStateException("rank " + rank + ": the ranks disagree, " + difference);
            }
        }
        DeviceAssignment.checkDistinct(Arrays.stream(reports).map(RankReport::placement).toArray(String[]::new));
        TrainCommand.Parsed parsed = TrainCommand.parse(args);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        // the last rank holds the loss; its log lines stream to the driver while it trains
        PrintStream log = rank != world - 1 ? null
                : progressAddress == null ? System.out : ProgressRelay.connect(progressAddress, System.out);
        if (log != null && log != System.out) {
            PrintStream relay = log;
            ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c -> relay.close());
        }
        TrainCommand.RankSetup setup = null;
        String status;
        RuntimeException failure = null;
        if (rank == 0) {
            // rank 0 creates the communicator id (the NCCL unique id once the CUDA backend lands) and the world
            String worldId = "lattice-" + java.util.UUID.randomUUID();
            try {
                setup = prepareFirst(parsed, world, ctx, worldId);
                status = OK + worldId;
            } catch (RuntimeException e) {
                failure = e;
                status = "rank 0 could not prepare the run: " + e.getMessage();
            }
        } else {
            status = "";
        }
        // everyone learns whether rank 0 succeeded, and the id of the world to join
        String first = ctx.allGather(status)[0];
        if (failure != null) {
            throw failure;
        }
        if (!first.startsWith(OK)) {
            throw new IllegalStateException(first);
        }
        return runRank(ctx, parsed, rank, world, host, first.substring(OK.length()), setup, quiet, log);
    }

    /**
     * The rank's device from the GPU Spark assigned the task. Training itself runs on the CPU backend until the
     * CUDA backend exists (issue 6); the assignment is still resolved and checked so that a cluster configured
     * with two tasks per GPU fails at the rendezvous, naming both ranks.
     */
    private static DeviceAssignment.Device device(BarrierTaskContext ctx, int rank) {
        scala.Option<org.apache.spark.resource.ResourceInformation> gpu = ctx.resources().get("gpu");
        String[] addresses = gpu.isDefined() ? gpu.get().addresses() : new String[0];
        String master = org.apache.spark.SparkEnv.get().conf().get("spark.master", "local");
        return DeviceAssignment.resolve(addresses, System.getenv("CUDA_VISIBLE_DEVICES"), master.startsWith("local"),
                rank, 0);
    }

    /** Rank 0: prepares the run (building the sample-index caches once) and creates the communicator world. */
    private TrainCommand.RankSetup prepareFirst(TrainCommand.Parsed parsed, int world, BarrierTaskContext ctx,
                                                String worldId) {
        TrainCommand.RankSetup setup;
        try {
            setup = TrainCommand.prepare(parsed.options(), parsed.explicit(), System.out);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        if (setup.topology().world() != world) {
            throw new IllegalStateException("the layout needs " + setup.topology().world()
                    + " ranks but the barrier stage has " + world + " tasks");
        }
        WorldRegistry.register(worldId, new InJvmWorld(world, Duration.ofMillis(
                (long) (parsed.options().distributedTimeoutMinutes * 60_000)), parsed.options().commJitterMicros,
                parsed.options().seed));
        ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c ->
                WorldRegistry.remove(worldId));
        return setup;
    }

    private Iterator<String> runRank(BarrierTaskContext ctx, TrainCommand.Parsed parsed, int rank, int world,
                                     String host, String worldId, TrainCommand.RankSetup setup, PrintStream quiet,
                                     PrintStream log) {
        InJvmWorld comm = WorldRegistry.lookup(worldId);
        if (comm == null) {
            throw new IllegalStateException("rank " + rank + " on " + host + " finds no communicator world "
                    + worldId + ": CPU ranks share an in-JVM communicator, so all ranks must run in one executor JVM"
                    + " (local[N], or one executor with N task slots); across JVMs use the NCCL communicator");
        }
        // Spark kills the peers of a failed barrier task by interrupting them; aborting the world makes every rank
        // still inside a collective stop at once instead of waiting out its timeout.
        ctx.addTaskFailureListener((org.apache.spark.util.TaskFailureListener) (c, error) ->
                comm.abort("rank " + rank + " on " + host + " failed or was killed: " + error));
        ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c -> comm.closeRank(rank));
        try {
            TrainCommand.RankSetup mine = setup != null ? setup
                    : TrainCommand.prepare(parsed.options(), parsed.explicit(), quiet);
            TrainingState end = mine.run(rank, comm, log);
            return CollectionConverters.asScala(List.of(rank + ":" + end.iteration() + ":"
                    + end.consumedTrainSamples()).iterator());
        } catch (Throwable t) {
            comm.abort("rank " + rank + " failed: " + t);
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("rank " + rank + " failed: " + t.getMessage(), t);
        }
    }
}
