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
import dev.lattice.trainer.engine.MetricsLog;
import dev.lattice.trainer.engine.SampleBatches;
import dev.lattice.trainer.engine.Trainer;
import dev.lattice.trainer.engine.TrainingState;
import dev.lattice.trainer.hf.HfModelDirectory;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.optim.AdamW;
import dev.lattice.trainer.optim.LearningRateSchedule;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashSet;
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
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
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
        try {
            run(o, explicit, out);
            return 0;
        } catch (IllegalArgumentException | IllegalStateException | IOException
                 | dev.lattice.data.indexed.InvalidDatasetException e) {
            err.println("lattice train: " + e.getMessage());
            return e instanceof IOException ? 1 : 2;
        }
    }

    /** The whole run; returns the final state. */
    public static TrainingState run(TrainOptions o, Set<String> explicit, PrintStream out) throws IOException {
        if (o.config != null) {
            DeepSpeedConfig.Extras extras = DeepSpeedConfig.apply(Path.of(o.config), o, explicit);
            if (!extras.precision().equals("fp32")) {
                out.println(" > note: " + extras.precision() + " requested in " + o.config
                        + "; the CPU backend trains in fp32");
            }
            if (extras.zeroStage() > 0) {
                out.println(" > note: ZeRO stage " + extras.zeroStage() + " has no effect with one data-parallel"
                        + " rank");
            }
        }
        int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize;
        if (gbs % o.microBatchSize != 0) {
            throw new IllegalArgumentException("--global-batch-size " + gbs + " is not a multiple of"
                    + " --micro-batch-size " + o.microBatchSize);
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
            config = modelFromFlags(o, tokenizer.vocabSize());
        }
        if (o.seqLength > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq-length " + o.seqLength + " exceeds --max-position-embeddings "
                    + config.maxPositionEmbeddings());
        }
        if (o.dataPath.isEmpty()) {
            throw new IllegalArgumentException("--data-path is required (an indexed dataset prefix, e.g. from"
                    + " 'lattice preprocess')");
        }
        DataPathSpec paths = DataPathSpec.parse(o.dataPath);
        SplitSpec split = SplitSpec.parse(o.split);
        int vocab = config.vocabSize();
        GptDatasets.Opener opener = prefix -> {
            IndexedDataset ds = IndexedDataset.open(Path.of(prefix));
            ds.checkVocabulary(vocab);
            return ds;
        };
        long trainSamples = o.trainIters * gbs;
        SampleSource train = GptDatasets.build(paths, split, Split.TRAIN, trainSamples, o.seqLength, o.seed,
                tokenizer.identifier(), opener);
        SampleSource valid = null;
        if (o.evalIters > 0 && o.evalInterval > 0 && split.range(Split.VALID, Integer.MAX_VALUE) != null) {
            long validSamples = (o.trainIters / o.evalInterval + 1) * o.evalIters * gbs;
            valid = GptDatasets.build(paths, split, Split.VALID, validSamples, o.seqLength, o.seed,
                    tokenizer.identifier(), opener);
        }

        Backend be = new CpuBackend();
        boolean recompute = o.recomputeActivations || "full".equals(o.recomputeGranularity);
        GptModel model = new GptModel(config, be, recompute);
        AdamW adam = new AdamW(be, model.layout().specs(), o.adamBeta1, o.adamBeta2, o.adamEps, o.weightDecay);
        TrainingState start = TrainingState.start();
        if (o.load != null && new CheckpointStore(o.load).latestIteration() >= 0) {
            CheckpointStore.Contents c = new CheckpointStore(o.load).load(config, be, model.parameters(),
                    adam.firstMoments(), adam.secondMoments());
            start = c.state();
            adam.restoreSteps(start.optimizerSteps());
            out.println(" > loaded checkpoint from " + o.load + " at iteration " + start.iteration());
        } else if (hfWeights != null) {
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                be.upload(e.getValue(), hfWeights.get(e.getKey()).data());
            }
            out.println(" > initialised from HuggingFace model " + o.initFromHf);
        } else {
            model.initialize(o.seed, o.initMethodStd);
        }
        CheckpointStore store = null;
        if (o.save != null) {
            store = new CheckpointStore(o.save);
            store.checkWritable();
        }
        LearningRateSchedule schedule = new LearningRateSchedule(o.lr, o.minLr, o.lrWarmupIters,
                o.lrDecayIters != null ? o.lrDecayIters : (int) o.trainIters,
                LearningRateSchedule.Style.parse(o.lrDecayStyle));
        Trainer.Settings settings = new Trainer.Settings(o.microBatchSize, gbs, o.seqLength, o.trainIters, schedule,
                o.clipGrad, o.logInterval, o.evalInterval, o.evalIters, o.saveInterval, o.maxNanIters,
                o.exitInterval);
        out.printf(" > %s model: %d parameters, %d layers, hidden %d, heads %d/%d, vocab %d (padded %d)%n",
                config.family(), model.layout().numel(), config.numLayers(), config.hiddenSize(),
                config.numAttentionHeads(), config.numQueryGroups(), config.vocabSize(), config.paddedVocabSize());
        CheckpointStore finalStore = store;
        try (MetricsLog metrics = new MetricsLog(o.save == null || !isLocal(o.save) ? null : Path.of(o.save))) {
            Trainer trainer = new Trainer(model, adam, settings, new SampleBatches(train, o.microBatchSize,
                    o.seqLength), valid == null ? null : new SampleBatches(valid, o.microBatchSize, o.seqLength),
                    finalStore == null ? null : st -> {
                        finalStore.save(st, config, be, model.parameters(), adam.firstMoments(),
                                adam.secondMoments(), Map.of("seed", o.seed, "tokenizer", tokenizer.identifier()));
                        out.printf("  successfully saved checkpoint from iteration %7d to %s%n", st.iteration(),
                                finalStore.directory());
                    }, metrics, out);
            TrainingState end = trainer.run(start);
            Path png = metrics.plot();
            if (png != null) {
                out.println(" > loss curve: " + png);
            }
            return end;
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
