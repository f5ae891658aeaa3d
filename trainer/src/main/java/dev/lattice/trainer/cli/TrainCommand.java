package dev.lattice.trainer.cli;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.samples.DataPathSpec;
import dev.lattice.data.samples.GptDatasets;
import dev.lattice.data.samples.SampleSource;
import dev.lattice.data.samples.Split;
import dev.lattice.data.samples.SplitSpec;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.checkpoint.CheckpointStore;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.engine.Checkpointer;
import dev.lattice.trainer.engine.DataParallelSync;
import dev.lattice.trainer.engine.GradientSync;
import dev.lattice.trainer.engine.MetricsLog;
import dev.lattice.trainer.engine.SingleRankSync;
import dev.lattice.trainer.engine.Zero3Sync;
import dev.lattice.trainer.engine.SampleBatches;
import dev.lattice.trainer.engine.Trainer;
import dev.lattice.trainer.engine.TrainingState;
import dev.lattice.trainer.hf.HfModelDirectory;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.TensorParallel;
import dev.lattice.trainer.model.PipelineContext;
import dev.lattice.trainer.model.PipelineStage;
import dev.lattice.trainer.engine.StagePlacement;
import dev.lattice.trainer.engine.PipelineRunner;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.trainer.optim.AdamW;
import dev.lattice.trainer.optim.LearningRateSchedule;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code lattice train}: assembles data, model, optimizer and loop from Megatron-style flags and runs them. */
public final class TrainCommand {

    private TrainCommand() {
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        TrainOptions o = new TrainOptions();
        CommandLine cl = new CommandLine(o).setOverwrittenOptionsAllowed(true); // as argparse: the last wins
        try {
            cl.parseArgs(Presets.expand(args));
        } catch (CommandLine.ParameterException | IllegalArgumentException e) {
            err.println("lattice train: " + e.getMessage());
            cl.usage(err);
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return 0;
        }
        Set<String> explicit = new HashSet<>();
        cl.getParseResult().matchedOptions().forEach(opt -> explicit.add(opt.longestName()));
        explicit.removeAll(Presets.presetOnlyFlags(args));
        try {
            if (o.dryRun) {
                dryRun(o, explicit, out);
                return 0;
            }
            run(o, explicit, out);
            return 0;
        } catch (IllegalArgumentException | IllegalStateException | IOException
                 | dev.lattice.data.indexed.InvalidDatasetException | dev.lattice.parallel.cuda.CudaException
                 | dev.lattice.parallel.comm.CommTimeoutException e) {
            err.println("lattice train: " + e.getMessage());
            return e instanceof IOException ? 1 : 2;
        }
    }

    /**
     * {@code --dry-run}: the checks that need no data or devices (a --config file, precision, layout, the model's
     * split over TP), then the plan {@code lattice plan} prints.
     */
    static void dryRun(TrainOptions o, Set<String> explicit, PrintStream out) throws IOException {
        Devices.cuda(o); // a valid --devices value
        int zero = configAndLayout(o, explicit, out).zero();
        o.zeroStage = zero; // the plan prints the stage the run would use
        o.useDistributedOptimizer = false;
        PlanCommand.print(o, out);
        out.println(" > dry run: flags valid; no data read, nothing trained (data: " + (o.mockData ? "mock"
                : String.join(", ", o.dataPath))
                + ")");
    }

    /** The whole run; returns the final state. */
    public static TrainingState run(TrainOptions o, Set<String> explicit, PrintStream out) throws IOException {
        Devices.check(o, o.worldSize); // before datasets are read: a missing GPU fails at once
        RankSetup setup = prepare(o, explicit, out);
        return runRanks(setup, out);
    }

    /** Parses {@code args} like {@link #execute} and returns the parsed options and the flags the user typed. */
    public static Parsed parse(String[] args) {
        TrainOptions o = new TrainOptions();
        CommandLine cl = new CommandLine(o).setOverwrittenOptionsAllowed(true);
        cl.parseArgs(Presets.expand(args));
        Set<String> explicit = new HashSet<>();
        cl.getParseResult().matchedOptions().forEach(opt -> explicit.add(opt.longestName()));
        explicit.removeAll(Presets.presetOnlyFlags(args));
        return new Parsed(o, explicit);
    }

    /** Options and the flags given explicitly (which win over a --config file). */
    public record Parsed(TrainOptions options, Set<String> explicit) {
    }

    /** What {@link #configAndLayout} settles: the ZeRO stage, the global batch and the topology. */
    record Settled(int zero, int globalBatch, Topology topology) {
    }

    /**
     * Applies a --config file (flags typed win) and runs the checks that need neither data nor devices: precision,
     * batch sizes, the layout, the ZeRO stage. Shared by a run and {@code --dry-run}, so both accept and refuse the
     * same things with the same messages.
     */
    static Settled configAndLayout(TrainOptions o, Set<String> explicit, PrintStream out) throws IOException {
        Integer zeroFromConfig = null;
        if (o.config != null) {
            DeepSpeedConfig.Extras extras = DeepSpeedConfig.apply(Path.of(o.config), o, explicit);
            if (extras.precision().equals("bf16") && !explicit.contains("--bf16")) {
                o.bf16 = true;
                if (!Devices.cuda(o)) {
                    out.println(" > note: bf16 requested in " + o.config + "; the CPU backend trains in fp32"
                            + " (bf16 products need --devices cuda)");
                }
            } else if (extras.precision().equals("fp16") && !explicit.contains("--bf16")) {
                o.fp16 = true;
            }
            zeroFromConfig = extras.zeroStage();
        }
        if (o.bf16 && o.fp16) {
            throw new IllegalArgumentException("--bf16 and --fp16 exclude each other");
        }
        int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize;
        if (gbs % o.microBatchSize != 0) {
            throw new IllegalArgumentException("--global-batch-size " + gbs + " is not a multiple of"
                    + " --micro-batch-size " + o.microBatchSize);
        }
        int zero = o.useDistributedOptimizer && !explicit.contains("--zero-stage") ? 1 : o.zeroStage;
        if (zeroFromConfig != null && !explicit.contains("--zero-stage")) {
            zero = zeroFromConfig;
        }
        Topology topology = new Topology(o.worldSize, o.tensorParallel, 1, o.pipelineParallel);
        if (topology.pp() > 1 && o.numLayers != null && o.numLayers % topology.pp() != 0) {
            throw new IllegalArgumentException("--num-layers " + o.numLayers + " is not divisible by"
                    + " --pipeline-model-parallel-size " + topology.pp());
        }
        if (gbs % (o.microBatchSize * topology.dp()) != 0) {
            throw new IllegalArgumentException("--global-batch-size " + gbs + " is not a multiple of"
                    + " --micro-batch-size " + o.microBatchSize + " × data-parallel size " + topology.dp());
        }
        if (zero < 0 || zero > 3) {
            throw new IllegalArgumentException("--zero-stage " + zero + " is not supported (0, 1, 2 or 3)");
        }
        if (o.ddpBucketSize != null && o.ddpBucketSize < 1) {
            throw new IllegalArgumentException("--ddp-bucket-size must be at least 1 element, got " + o.ddpBucketSize);
        }
        checkGradReduce(o, zero);
        o.recomputation(); // a bad --recompute-granularity fails here, before any compute
        return new Settled(zero, gbs, topology);
    }

    /** Neither reduction flag applies to ZeRO-3, which reduces per parameter; the parameter gather needs ZeRO 1-2. */
    private static void checkGradReduce(TrainOptions o, int zero) {
        if (o.overlapParamGather && zero != 1 && zero != 2) {
            throw new IllegalArgumentException("--overlap-param-gather needs the distributed optimizer"
                    + " (--use-distributed-optimizer or --zero-stage 1 or 2), got ZeRO " + zero);
        }
        if (zero == 3 && (o.overlapGradReduce || o.gradReduceInBf16)) {
            throw new IllegalArgumentException((o.overlapGradReduce ? "--overlap-grad-reduce" : "--grad-reduce-in-bf16")
                    + " applies to --zero-stage 0, 1 or 2 (ZeRO-3 reduces each parameter as it goes)");
        }
    }

    /**
     * Everything before the ranks start: the config, checks that fail before any compute, the datasets (their index
     * caches built here), the checkpoint directory. The result runs each rank.
     */
    public static RankSetup prepare(TrainOptions o, Set<String> explicit, PrintStream out) throws IOException {
        Settled settled = configAndLayout(o, explicit, out);
        int zero = settled.zero();
        int gbs = settled.globalBatch();
        Topology topology = settled.topology();
        int chunks = 1;
        if (o.layersPerVirtualStage != null) {
            if (topology.pp() < 2) {
                throw new IllegalArgumentException("--num-layers-per-virtual-pipeline-stage needs"
                        + " --pipeline-model-parallel-size > 1");
            }
            int layers = o.numLayers != null ? o.numLayers : 0;
            if (o.layersPerVirtualStage <= 0 || layers % (topology.pp() * o.layersPerVirtualStage) != 0) {
                throw new IllegalArgumentException("--num-layers " + layers + " is not divisible by"
                        + " --pipeline-model-parallel-size " + topology.pp() + " × --num-layers-per-virtual-pipeline-stage "
                        + o.layersPerVirtualStage);
            }
            chunks = layers / (topology.pp() * o.layersPerVirtualStage);
            if (chunks > 1) {
                // Megatron's constraints (M ≥ PP and M mod PP == 0), checked by the schedule before any compute.
                dev.lattice.parallel.pipeline.InterleavedSchedule.validate(topology.pp(), 0,
                        gbs / (o.microBatchSize * topology.dp()), chunks, topology.pp());
            }
        }
        TextTokenizer tokenizer = TokenizerSpec.of(o.tokenizer).tokenizer();
        ModelConfig config;
        Map<String, NamedTensor> hfWeights = null;
        if (o.initFromHf != null) {
            HfModelDirectory.Loaded hf = HfModelDirectory.load(Path.of(o.initFromHf));
            config = hf.config();
            hfWeights = hf.tensors();
            if (config.vocabSize() < tokenizer.vocabSize()) {
                throw new IllegalArgumentException("--init-from-hf " + o.initFromHf + " has a vocabulary of "
                        + config.vocabSize() + " but --tokenizer " + o.tokenizer + " produces ids up to "
                        + (tokenizer.vocabSize() - 1));
            }
        } else {
            config = modelFromFlags(o, o.vocabSize != null ? o.vocabSize : tokenizer.vocabSize());
        }
        if (o.seqLength > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq-length " + o.seqLength + " exceeds --max-position-embeddings "
                    + config.maxPositionEmbeddings());
        }
        if (o.mockData) {
            if (!o.dataPath.isEmpty()) {
                throw new IllegalArgumentException("--mock-data and --data-path exclude each other");
            }
        } else if (o.dataPath.isEmpty()) {
            throw new IllegalArgumentException("--data-path is required (an indexed dataset prefix or a"
                    + " directory of Parquet token shards, e.g. from 'lattice preprocess')");
        }
        SampleSource train;
        SampleSource valid = null;
        long trainSamples = o.trainIters * gbs;
        SplitSpec split = SplitSpec.parse(o.split);
        boolean evaluates = o.evalIters > 0 && o.evalInterval > 0 && split.range(Split.VALID, Integer.MAX_VALUE) != null;
        long validSamples = (o.trainIters / o.evalInterval + 1) * o.evalIters * gbs;
        if (o.mockData) {
            train = new dev.lattice.data.samples.MockGptSamples(Math.toIntExact(trainSamples), o.seqLength,
                    config.vocabSize(), o.seed);
            if (evaluates) {
                valid = new dev.lattice.data.samples.MockGptSamples(Math.toIntExact(validSamples), o.seqLength,
                        config.vocabSize(), o.seed + 1);
            }
        } else {
            DataPathSpec remote = DataPathSpec.parse(o.dataPath);
            java.util.List<String> localPrefixes = new java.util.ArrayList<>();
            for (String prefix : remote.prefixes()) {
                // remote or Parquet data: fetched or converted once per JVM
                localPrefixes.add(dev.lattice.trainer.engine.DataCache.localize(prefix, config.vocabSize()));
            }
            DataPathSpec paths = new DataPathSpec(localPrefixes, remote.weights());
            int vocab = config.vocabSize();
            GptDatasets.Opener opener = prefix -> {
                IndexedDataset ds = IndexedDataset.open(Path.of(prefix));
                ds.checkVocabulary(vocab);
                return ds;
            };
            train = GptDatasets.build(paths, split, Split.TRAIN, trainSamples, o.seqLength, o.seed,
                    tokenizer.identifier(), opener);
            if (evaluates) {
                valid = GptDatasets.build(paths, split, Split.VALID, validSamples, o.seqLength, o.seed,
                        tokenizer.identifier(), opener);
            }
        }

        LearningRateSchedule schedule = new LearningRateSchedule(o.lr, o.minLr, o.lrWarmupIters,
                o.lrDecayIters != null ? o.lrDecayIters : (int) o.trainIters,
                LearningRateSchedule.Style.parse(o.lrDecayStyle));
        Trainer.Settings settings = new Trainer.Settings(o.microBatchSize, gbs, o.seqLength, o.trainIters, schedule,
                o.clipGrad, o.logInterval, o.evalInterval, o.evalIters, o.saveInterval, o.maxNanIters,
                o.exitInterval);
        CheckpointStore store = null;
        if (o.save != null) {
            store = new CheckpointStore(o.save);
            store.checkWritable();
        }
        boolean resume = o.load != null && new CheckpointStore(o.load).latestIteration() >= 0;
        long startIteration = resume ? new CheckpointStore(o.load).latestIteration() : 0;
        // Fail before any compute if the model cannot be split this way (heads, groups, FFN, vocabulary).
        new GptModel(config, new CpuBackend(), false, new dev.lattice.trainer.model.TensorParallel(null, 0,
                topology.tp())).close();
        return new RankSetup(o, config, hfWeights, train, valid, store, resume, settings, zero, topology,
                tokenizer.identifier(), chunks, startIteration, new java.util.concurrent.ConcurrentSkipListMap<>());
    }

    /** Runs every rank of {@code setup} as a thread of this JVM (one rank inline). */
    public static TrainingState runRanks(RankSetup setup, PrintStream out) throws IOException {
        Topology topology = setup.topology();
        TrainOptions o = setup.o();
        int zero = setup.zero();
        long startIteration = setup.startIteration();
        boolean resume = setup.resume();
        if (topology.world() == 1 && zero == 0) {
            return setup.run(0, null, out);
        }
        java.time.Duration timeout = java.time.Duration.ofMillis((long) (o.distributedTimeoutMinutes * 60_000));
        dev.lattice.parallel.comm.CommWorld world = Devices.cuda(o)
                ? new dev.lattice.parallel.nccl.NcclWorld(topology.world(), timeout,
                        new dev.lattice.parallel.nccl.LocalNcclGroupIds())
                : new InJvmWorld(topology.world(), timeout, o.commJitterMicros, o.seed);
        out.printf(" > %s, ZeRO stage %d, ranks as threads%s%n", topology, zero,
                Devices.cuda(o) ? ", one GPU each, NCCL" : "");
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(
                topology.world());
        try {
            java.util.concurrent.CompletionService<TrainingState> done =
                    new java.util.concurrent.ExecutorCompletionService<>(pool);
            for (int r = 0; r < topology.world(); r++) {
                int rank = r;
                done.submit(() -> {
                    try {
                        return setup.run(rank, world, rank == topology.world() - 1 ? out : null);
                    } catch (Throwable t) {
                        world.abort("rank " + rank + " failed: " + t);
                        throw t;
                    }
                });
            }
            TrainingState last = null;
            Throwable first = null;
            for (int finished = 0; finished < topology.world(); finished++) {
                java.util.concurrent.Future<TrainingState> f;
                try {
                    // After a failure the others are interrupted; a rank that ignores that for a minute is left.
                    f = first == null ? done.take() : done.poll(1, java.util.concurrent.TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while ranks were training");
                }
                if (f == null) {
                    break;
                }
                try {
                    TrainingState st = f.get();
                    last = last == null || st.iteration() >= last.iteration() ? st : last;
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause();
                    // The rank that failed first explains; the others only report the abort.
                    if (first == null || first instanceof dev.lattice.parallel.comm.CommTimeoutException
                            && !(c instanceof dev.lattice.parallel.comm.CommTimeoutException)
                            && !(c instanceof IllegalStateException && String.valueOf(c.getMessage())
                                    .startsWith("hang drill"))) {
                        first = c;
                    }
                    pool.shutdownNow(); // wakes a rank that hangs (drill) or waits outside a communicator
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while ranks were training");
                }
            }
            if (first instanceof IOException io) {
                throw io;
            }
            if (first instanceof RuntimeException re) {
                throw re;
            }
            if (first != null) {
                throw new IllegalStateException(first);
            }
            // The logging (last) rank printed its own; then data-parallel rank 0 of each model-parallel position
            // (with DP > 1 the last rank's position appears twice: its own lines and its DP-rank-0 sibling's).
            setup.otherRanksMemory().values().forEach(lines -> lines.forEach(out::println));
            long iterations = Math.max(1, last.iteration() - startIteration);
            StringBuilder comm = new StringBuilder(" > communication per rank per iteration (ring bytes):");
            world.bytesByGroupName().forEach((group, bytes) -> comm.append(String.format(java.util.Locale.ROOT,
                    " %s %.3f MB |", group, bytes / 1e6 / topology.world() / iterations)));
            out.println(comm);
            return last;
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * One prepared run: what each rank needs to start (datasets are thread-safe readers shared by the ranks), and
     * where the ranks that do not log leave their memory lines (data-parallel rank 0 of each model-parallel
     * position, as Megatron reports memory) for {@link #runRanks} to print after the run.
     */
    public record RankSetup(TrainOptions o, ModelConfig config, Map<String, NamedTensor> hfWeights,
                            SampleSource train, SampleSource valid, CheckpointStore store, boolean resume,
                            Trainer.Settings settings, int zero, Topology topology, String tokenizerId,
                            int chunks, long startIteration,
                            java.util.concurrent.ConcurrentNavigableMap<Integer, List<String>> otherRanksMemory) {

        /**
         * Runs rank {@code rank} to the end of training.
         *
         * @param world the ranks' communicators (null for a single rank without ZeRO)
         * @param out the log (the last rank's console), or null on the other ranks
         */
        public TrainingState run(int rank, dev.lattice.parallel.comm.CommWorld world, PrintStream out)
                throws IOException {
            return run(rank, world, out, Devices.cuda(o) ? Devices.ordinal(o, rank) : -1);
        }

        /**
         * Runs rank {@code rank} on CUDA device {@code cudaDevice} (ignored with {@code --devices cpu}): what Spark
         * uses, where the device comes from the task's GPU resource rather than the rank number.
         */
        public TrainingState run(int rank, dev.lattice.parallel.comm.CommWorld world, PrintStream out,
                                 int cudaDevice) throws IOException {
            try (Backend be = Devices.backend(o, cudaDevice)) {
                try {
                    return run(rank, world, out, be);
                } finally {
                    if (world instanceof dev.lattice.parallel.nccl.NcclWorld) {
                        world.closeRank(rank); // NCCL communicators go before the device memory they use
                    }
                }
            }
        }

        private TrainingState run(int rank, dev.lattice.parallel.comm.CommWorld world, PrintStream out, Backend be)
                throws IOException {
            if (world instanceof dev.lattice.parallel.nccl.NcclWorld nccl
                    && be instanceof dev.lattice.trainer.backend.cuda.CudaBackend cuda) {
                nccl.bindRank(rank, cuda.device(), cuda.stream());
            }
            if (out != null && rank == 0 || out != null && world == null) {
                out.println(" > backend: " + be.name());
            }
            TensorParallel tp = world == null || topology.tp() == 1 ? TensorParallel.NONE
                    : TensorParallel.of(world.group(rank, topology.groupOf(rank, Topology.Axis.TP), "tp"));
            int ppRank = topology.ppRank(rank);
            PipelineContext pipe = PipelineContext.NONE;
            if (topology.pp() > 1) {
                Communicator ppComm = world.group(rank, topology.groupOf(rank, Topology.Axis.PP), "pp");
                Communicator emb = config.tiedEmbeddings() && (ppRank == 0 || ppRank == topology.pp() - 1)
                        ? world.group(rank, topology.embeddingGroup(rank), "embedding") : null;
                pipe = new PipelineContext(ppComm, emb, ppRank, topology.pp());
            }
            PipelineStage stage = topology.pp() > 1
                    ? StagePlacement.stageOf(config, topology.pp(), ppRank, chunks) : PipelineStage.whole(config);
            GptModel model = new GptModel(config, be, o.recomputation(), tp, stage).withPipeline(pipe)
                    .withSequenceParallel(o.sequenceParallel);
            PrintStream log = out == null ? new PrintStream(java.io.OutputStream.nullOutputStream()) : out;
            TrainingState start = TrainingState.start();
            double resumedLossScale = 0;
            Map<String, Tensor> loadedM = null;
            Map<String, Tensor> loadedV = null;
            if (resume) {
                // Whatever layout wrote the checkpoint, it is read back as whole tensors; each rank cuts its own.
                dev.lattice.trainer.checkpoint.ShardedCheckpoint.Full full = new CheckpointStore(o.load)
                        .readFull(config, StagePlacement::stageOf, true);
                model.loadFull(full.params());
                loadedM = tensors(be, model, full.m());
                loadedV = tensors(be, model, full.v());
                start = full.contents().state();
                Object saved = full.contents().extra() == null ? null : full.contents().extra().get("loss_scale");
                resumedLossScale = saved instanceof Number n ? n.doubleValue() : 0;
                log.println(" > loaded checkpoint from " + o.load + " at iteration " + start.iteration());
            } else if (hfWeights != null) {
                Map<String, float[]> full = new java.util.LinkedHashMap<>();
                hfWeights.forEach((k, t) -> full.put(k, t.data()));
                model.loadFull(full);
                log.println(" > initialised from HuggingFace model " + o.initFromHf);
            } else {
                model.initialize(o.seed, o.initMethodStd); // the same full draw on every rank, then sharded
            }
            GradientSync sync;
            if (world == null || (topology.dp() == 1 && zero == 0)) {
                sync = new SingleRankSync(new AdamW(be, model.specs(), model.parameters(), o.adamBeta1,
                        o.adamBeta2, o.adamEps, o.weightDecay));
            } else if (zero == 3) {
                sync = new Zero3Sync(world.group(rank, topology.groupOf(rank, Topology.Axis.DP), "dp"), model,
                        o.adamBeta1, o.adamBeta2, o.adamEps, o.weightDecay);
            } else {
                sync = new DataParallelSync(world.group(rank, topology.groupOf(rank, Topology.Axis.DP), "dp"), zero,
                        model, o.adamBeta1, o.adamBeta2, o.adamEps, o.weightDecay, new DataParallelSync.Options(
                        o.ddpBucketSize != null ? o.ddpBucketSize : DataParallelSync.DEFAULT_BUCKET_ELEMENTS,
                        o.gradReduceInBf16, o.overlapGradReduce, o.overlapParamGather));
            }
            if (resume) {
                sync.loadOptimizerState(model, shard(be, model, loadedM), shard(be, model, loadedV));
                sync.restoreSteps(start.optimizerSteps());
            }
            log.printf(" > %s model: %d parameters, %d layers, hidden %d, heads %d/%d, vocab %d (padded %d)%n",
                    config.family(), model.layout().numel(), config.numLayers(), config.hiddenSize(),
                    config.numAttentionHeads(), config.numQueryGroups(), config.vocabSize(),
                    config.paddedVocabSize());
            if (sync instanceof DataParallelSync d && d.bf16GatherSummary() != null) {
                log.println(" > " + d.bf16GatherSummary());
            }
            dev.lattice.trainer.engine.LossScaler scaler = !o.fp16 ? null : o.lossScale != null
                    ? dev.lattice.trainer.engine.LossScaler.constant(o.lossScale)
                    : dev.lattice.trainer.engine.LossScaler.dynamic(o.initialLossScale, o.minLossScale,
                            o.lossScaleWindow, o.hysteresis);
            if (scaler != null && resumedLossScale > 0) {
                scaler.restore(resumedLossScale);
            }
            boolean writer = rank == 0;
            boolean dpFirst = topology.dpRank(rank) == 0;
            Communicator everyone = world == null ? null : world.world(rank);
            Checkpointer checkpointer = store == null ? null : st -> {
                // Each rank writes its own shard; nothing passes through one rank (ZeRO-3 first gathers each
                // (tp, pp) shard's parameters over its DP group).
                sync.materializeParameters(); // fp32 values of what only travelled as bf16 roundings
                Map<String, Tensor> local = sync instanceof Zero3Sync z ? z.fullParameters() : model.parameters();
                dev.lattice.trainer.checkpoint.CheckpointLayout layout = new dev.lattice.trainer.checkpoint
                        .CheckpointLayout(topology.tp(), topology.pp(), chunks, topology.dp(),
                        sync.checkpointZeroStage(), sync.bucketElements(), sync.firstLayersApart(),
                        sync.productWeightsLast());
                java.util.List<NamedTensor> mine = null;
                if (dpFirst) {
                    mine = new java.util.ArrayList<>();
                    for (var s : model.specs()) {
                        if (!model.stage().isTiedCopy(s.name())) {
                            Tensor t = local.get(s.name());
                            mine.add(new NamedTensor(s.name(), t.shape(), be.toHost(t)));
                        }
                    }
                }
                store.writeShard(st.iteration(), layout, topology.tpRank(rank), ppRank, topology.dpRank(rank), mine,
                        sync.optimizerPayload(model));
                if (everyone != null) {
                    everyone.barrier(); // every shard is written before the commit
                }
                if (writer) {
                    store.commit(st, config, layout, Map.of("seed", o.seed, "tokenizer", tokenizerId,
                            "world_size", topology.world(), "zero_stage", zero, "loss_scale",
                            scaler == null ? 1.0 : scaler.scale()));
                    log.printf("  successfully saved checkpoint from iteration %7d to %s%n", st.iteration(),
                            store.directory());
                }
                if (everyone != null) {
                    everyone.barrier();
                }
            };
            boolean metricsHere = out != null && o.save != null && isLocal(o.save);
            try (MetricsLog metrics = metricsHere ? new MetricsLog(Path.of(o.save)) : null) {
                Trainer trainer = new Trainer(model, sync, settings,
                        new SampleBatches(train, o.microBatchSize, o.seqLength),
                        valid == null ? null : new SampleBatches(valid, o.microBatchSize, o.seqLength),
                        checkpointer, metrics, out);
                if (pipe.enabled()) {
                    trainer.withRunner(new PipelineRunner(pipe));
                }
                if (scaler != null) {
                    trainer.withLossScaler(scaler);
                }
                if (o.failAtIteration > 0 && rank == o.failRank) {
                    trainer.withFaultDrill(o.failAtIteration, "rank " + rank);
                }
                if (o.hangAtIteration > 0 && rank == o.failRank) {
                    trainer.withHangDrill(o.hangAtIteration, "rank " + rank);
                }
                TrainingState end = trainer.run(start);
                if (out != null) {
                    memoryLines(rank, model, sync, be, end).forEach(log::println);
                } else if (world != null && topology.dpRank(rank) == 0 && topology.cpRank(rank) == 0) {
                    otherRanksMemory.put(rank, memoryLines(rank, model, sync, be, end));
                }
                if (metrics != null) {
                    try {
                        Path png = metrics.plot();
                        if (png != null) {
                            log.println(" > loss curve: " + png);
                        }
                    } catch (LinkageError | java.awt.AWTError e) {
                        // A machine without font libraries (e.g. a bare GPU host) still keeps its trained model.
                        log.println(" > loss curve not drawn: Java2D cannot render here (" + e + "); the losses are"
                                + " in metrics.jsonl");
                    }
                }
                return end;
            }
        }



        /**
         * This rank's memory: what its tensors hold by kind (measured), what {@code lattice plan} predicts for it,
         * and on a GPU Megatron's line of what the device allocator held (the plan's total against "max allocated").
         */
        private List<String> memoryLines(int rank, GptModel model, GradientSync sync, Backend be, TrainingState end) {
            List<String> lines = new java.util.ArrayList<>();
            long paramBytes = model.parameterBytes() + (sync instanceof Zero3Sync z ? z.parameterShardBytes() : 0);
            lines.add(new dev.lattice.trainer.engine.MemoryPlan(paramBytes, model.gradientBytes(),
                    sync.optimizerStateBytes(), model.activationBytes(), -1).render("of rank " + rank + " (measured)"));
            lines.add(dev.lattice.trainer.engine.MemoryPlan.of(config, topology.world(), topology.tp(),
                    topology.pp(), zero, o.microBatchSize, settings.globalBatch(), o.seqLength, o.recomputation(),
                    chunks, rank, o.sequenceParallel, be.activationBytes()).render("of rank " + rank + " (plan)"));
            Backend.DeviceMemory device = be.deviceMemory();
            if (device != null) {
                lines.add(device.megatronLine(rank, end.iteration()));
            }
            return lines;
        }

        /** This rank's TP shards of full tensors. */
        private static Map<String, Tensor> shard(Backend be, GptModel model, Map<String, Tensor> full) {
            TensorParallel tp = model.tensorParallel();
            Map<String, Tensor> out = new java.util.LinkedHashMap<>();
            for (var s : model.specs()) {
                // the shape from the spec, not the model's tensor: under ZeRO-3 that is already an empty placeholder
                out.put(s.name(), be.fromHost(s.split().shard(be.toHost(full.get(s.name())), s.shape(), tp.size(),
                        tp.rank()), s.split().localShape(s.shape(), tp.size(), s.name())));
            }
            return out;
        }

        /** Full-shape tensors of this stage's parameters from whole-model values. */
        private static Map<String, Tensor> tensors(Backend be, GptModel model, Map<String, float[]> full) {
            Map<String, Tensor> out = new java.util.LinkedHashMap<>();
            for (var s : model.specs()) {
                out.put(s.name(), be.fromHost(full.get(s.name()), s.shape()));
            }
            return out;
        }

    }

    private static boolean isLocal(String path) {
        String scheme = dev.lattice.data.storage.Storages.schemeOf(path);
        return scheme == null || scheme.equals("file");
    }

    static ModelConfig modelFromFlags(TrainOptions o, int vocab) {
        if (o.numLayers == null || o.hiddenSize == null || o.numAttentionHeads == null) {
            throw new IllegalArgumentException("--num-layers, --hidden-size and --num-attention-heads are required"
                    + " (or --init-from-hf)");
        }
        boolean llama = switch (o.model.toLowerCase(java.util.Locale.ROOT)) {
            case "gpt2", "gpt" -> false;
            case "llama" -> true;
            default -> throw new IllegalArgumentException("--model " + o.model + ": expected gpt2 or llama");
        };
        int heads = o.numAttentionHeads;
        int groups = o.numQueryGroups != null ? o.numQueryGroups : heads;
        int ffn = o.ffnHiddenSize != null ? o.ffnHiddenSize : 4 * o.hiddenSize;
        int positions = o.maxPositionEmbeddings != null ? o.maxPositionEmbeddings : o.seqLength;
        boolean tied = !llama && !o.untieEmbeddings;
        if (llama) {
            tied = false;
        }
        return new ModelConfig(llama ? ModelConfig.Family.LLAMA : ModelConfig.Family.GPT2, o.hiddenSize,
                o.numLayers, heads, groups, ffn, vocab, ModelConfig.padVocab(vocab, o.vocabDivisor), positions,
                o.normEpsilon, o.rotaryBase, tied, !llama);
    }
}
