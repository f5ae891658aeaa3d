package dev.lattice.spark.train;

import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.nccl.LocalNcclGroupIds;
import dev.lattice.parallel.nccl.NcclWorld;
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
import java.util.Map;

/**
 * The body of one barrier task = one rank. Rendezvous through {@link BarrierTaskContext}: every rank reports its
 * host, device, build, arguments and whatever keeps it from training there ({@link RankReport}; a disagreement fails
 * all ranks, naming the difference; a rank without CUDA under {@code --devices cuda} fails all ranks, naming its
 * host and why; two ranks on one GPU of a host fail too). Rank 0 then prepares first (it builds the sample-index
 * caches) and creates the world's id — with {@code --devices cuda} also the NCCL unique id of every group the run
 * will create ({@link NcclGroupKeys}, {@link NcclIdMessage}) — which the others learn from a second allGather. CPU
 * ranks join rank 0's in-JVM world; GPU ranks share one {@link NcclWorld} per executor JVM. Then every rank trains,
 * on its own GPU with {@code --devices cuda}. A failing rank aborts the world so its peers stop waiting at once.
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
        TrainCommand.Parsed parsed = TrainCommand.parse(args);
        boolean cuda = TrainJob.cudaDevices(parsed.options());
        // A rank that cannot train here (no CUDA, no GPU) still joins the rendezvous and says why, so that every
        // rank fails at once with the same message instead of its peers waiting for it.
        DeviceAssignment.Device device = DeviceAssignment.Device.CPU;
        String problem = "";
        try {
            device = device(ctx, rank, cuda, parsed.options().deviceOffset);
        } catch (RuntimeException | LinkageError e) {
            problem = String.valueOf(e.getMessage());
        }
        RankReport me = new RankReport(rank, host, device.toString(), RankReport.currentBuild(), List.of(args),
                problem);
        String[] gathered = ctx.allGather(me.encode());
        RankReport[] reports = new RankReport[gathered.length];
        for (int i = 0; i < gathered.length; i++) {
            reports[i] = RankReport.decode(gathered[i]);
        }
        for (RankReport other : reports) {
            String difference = reports[0].differenceFrom(other);
            if (difference != null) {
                throw new RankSetupException("rank " + rank + ": the ranks disagree, " + difference);
            }
        }
        try {
            RankReport.checkProblems(reports);
            DeviceAssignment.checkDistinct(Arrays.stream(reports).map(RankReport::placement)
                    .toArray(String[]::new));
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw new RankSetupException(e.getMessage(), e);
        }
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
        Throwable failure = null;
        if (rank == 0) {
            // rank 0 creates the world's id and, for GPUs, the NCCL unique id of every group the run will create
            String worldId = "lattice-" + java.util.UUID.randomUUID();
            try {
                First f = prepareFirst(parsed, world, ctx, worldId, cuda, host);
                setup = f.setup();
                status = OK + worldId + (f.ncclIds() == null ? "" : "\n" + f.ncclIds());
            } catch (RuntimeException | LinkageError e) {
                failure = e;
                status = "rank 0 could not prepare the run: " + e.getMessage();
            }
        } else {
            status = "";
        }
        // everyone learns whether rank 0 succeeded, the id of the world to join and the NCCL ids
        String first = ctx.allGather(status)[0];
        if (failure instanceof IllegalArgumentException || failure instanceof IllegalStateException) {
            throw new RankSetupException("rank 0 could not prepare the run: " + failure.getMessage(), failure);
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure != null) {
            throw (Error) failure;
        }
        if (!first.startsWith(OK)) {
            throw new RankSetupException(first);
        }
        String payload = first.substring(OK.length());
        Map<String, byte[]> ncclIds = null;
        String worldId = payload;
        if (cuda) {
            int nl = payload.indexOf('\n');
            if (nl < 0) {
                throw new IllegalStateException("rank " + rank + " on " + host + ": rank 0 sent no NCCL ids for"
                        + " --devices cuda (a different Lattice build?)");
            }
            worldId = payload.substring(0, nl);
            ncclIds = NcclIdMessage.decode(payload.substring(nl + 1));
        }
        return runRank(ctx, parsed, rank, world, host, worldId, ncclIds, device, setup, quiet, log);
    }

    /** What rank 0 prepared: the run, and the NCCL ids as an {@link NcclIdMessage} (null for CPU ranks). */
    private record First(TrainCommand.RankSetup setup, String ncclIds) {
    }

    /**
     * The rank's device. {@code --devices cpu}: the CPU, though the GPU Spark assigned is still resolved and
     * checked so that a cluster configured with two tasks per GPU fails at the rendezvous, naming both ranks.
     * {@code --devices cuda}: the task's GPU (cluster modes) or the host's GPU of the rank's index (local[N]).
     *
     * @throws IllegalStateException why this rank cannot train here (no CUDA on the executor, no GPU, …)
     */
    private static DeviceAssignment.Device device(BarrierTaskContext ctx, int rank, boolean cuda,
                                                  int deviceOffset) {
        scala.Option<org.apache.spark.resource.ResourceInformation> gpu = ctx.resources().get("gpu");
        String[] addresses = gpu.isDefined() ? gpu.get().addresses() : new String[0];
        String master = org.apache.spark.SparkEnv.get().conf().get("spark.master", "local");
        boolean local = master.equals("local") || master.startsWith("local[");
        String visible = System.getenv("CUDA_VISIBLE_DEVICES");
        if (!cuda) {
            return DeviceAssignment.resolve(addresses, visible, local, rank, 0);
        }
        if (!Cuda.available()) {
            throw new IllegalStateException("--devices cuda, but this executor cannot use CUDA: "
                    + Cuda.unavailableReason());
        }
        return DeviceAssignment.resolveCuda(addresses, visible, local, rank, deviceOffset, Cuda.deviceCount());
    }

    /**
     * Rank 0: prepares the run (building the sample-index caches once), then creates the in-JVM world (CPU) or the
     * NCCL unique ids of every group of the run (GPU; each JVM's ranks then create their NCCL world from them).
     */
    private First prepareFirst(TrainCommand.Parsed parsed, int world, BarrierTaskContext ctx, String worldId,
                               boolean cuda, String host) {
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
        if (cuda) {
            List<String> keys = NcclGroupKeys.of(setup);
            Map<String, byte[]> ids;
            try {
                ids = LocalNcclGroupIds.generate(keys);
            } catch (RuntimeException | LinkageError e) {
                throw new IllegalStateException("rank 0 on " + host + " could not create the NCCL ids of "
                        + keys.size() + " groups (ncclGetUniqueId; is NCCL installed there?): " + e, e);
            }
            System.out.println(" > rank 0 on " + host + ": NCCL ids for " + keys.size() + " groups " + keys);
            return new First(setup, NcclIdMessage.encode(ids));
        }
        WorldRegistry.register(worldId, new InJvmWorld(world, timeout(parsed), parsed.options().commJitterMicros,
                parsed.options().seed));
        ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c ->
                WorldRegistry.remove(worldId));
        return new First(setup, null);
    }

    private static Duration timeout(TrainCommand.Parsed parsed) {
        return Duration.ofMillis((long) (parsed.options().distributedTimeoutMinutes * 60_000));
    }

    private Iterator<String> runRank(BarrierTaskContext ctx, TrainCommand.Parsed parsed, int rank, int world,
                                     String host, String worldId, Map<String, byte[]> ncclIds,
                                     DeviceAssignment.Device device, TrainCommand.RankSetup setup,
                                     PrintStream quiet, PrintStream log) {
        CommWorld comm;
        if (ncclIds != null) {
            // the ranks of this executor JVM share one NCCL world; the last one to end drops it
            comm = WorldRegistry.acquire(worldId, () -> new NcclWorld(world, timeout(parsed),
                    new LocalNcclGroupIds(ncclIds)));
            ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c ->
                    WorldRegistry.release(worldId));
        } else {
            comm = WorldRegistry.lookup(worldId);
            if (comm == null) {
                throw new IllegalStateException("rank " + rank + " on " + host + " finds no communicator world "
                        + worldId + ": CPU ranks share an in-JVM communicator, so all ranks must run in one"
                        + " executor JVM (local[N], or one executor with N task slots); across JVMs train with"
                        + " --devices cuda (NCCL)");
            }
        }
        // Spark kills the peers of a failed barrier task by interrupting them; aborting the world makes every rank
        // still inside a collective stop at once instead of waiting out its timeout (NCCL: ncclCommAbort).
        ctx.addTaskFailureListener((org.apache.spark.util.TaskFailureListener) (c, error) ->
                comm.abort("rank " + rank + " on " + host + " failed or was killed: " + error));
        // releases the rank's communicators however the task ends (NCCL: destroyed, or aborted after a failure)
        ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c -> comm.closeRank(rank));
        try {
            TrainCommand.RankSetup mine = setup != null ? setup
                    : TrainCommand.prepare(parsed.options(), parsed.explicit(), quiet);
            TrainingState end = mine.run(rank, comm, log, device.gpu() && ncclIds != null ? device.ordinal() : -1);
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
