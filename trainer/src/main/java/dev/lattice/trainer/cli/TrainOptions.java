package dev.lattice.trainer.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** {@code lattice train}'s flags, named as Megatron-LM names them. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a GPT-2 or Llama model on one node (no Spark), Megatron-style.")
public final class TrainOptions {

    @Option(names = "--model", defaultValue = "gpt2", description = "gpt2 or llama. Default: ${DEFAULT-VALUE}.")
    public String model = "gpt2";

    @Option(names = "--config", paramLabel = "FILE",
            description = "A DeepSpeed-style JSON config (batch, optimizer, scheduler, precision, ZeRO keys);"
                    + " flags given on the command line win.")
    public String config;

    @Option(names = "--init-from-hf", paramLabel = "DIR",
            description = "Start from a HuggingFace model directory (config.json + model.safetensors).")
    public String initFromHf;

    @Option(names = "--num-layers") public Integer numLayers;
    @Option(names = "--hidden-size") public Integer hiddenSize;
    @Option(names = "--num-attention-heads") public Integer numAttentionHeads;
    @Option(names = "--num-query-groups") public Integer numQueryGroups;
    @Option(names = "--group-query-attention", description = "Accepted for Megatron compatibility.")
    public boolean groupQueryAttention;
    @Option(names = "--ffn-hidden-size") public Integer ffnHiddenSize;
    @Option(names = "--seq-length", defaultValue = "1024") public int seqLength = 1024;
    @Option(names = "--max-position-embeddings") public Integer maxPositionEmbeddings;
    @Option(names = "--norm-epsilon", defaultValue = "1e-5") public float normEpsilon = 1e-5f;
    @Option(names = "--rotary-base", defaultValue = "10000") public float rotaryBase = 10000f;
    @Option(names = "--untie-embeddings-and-output-weights") public boolean untieEmbeddings;
    @Option(names = "--make-vocab-size-divisible-by", defaultValue = "128") public int vocabDivisor = 128;
    @Option(names = "--init-method-std", defaultValue = "0.02") public double initMethodStd = 0.02;

    @Option(names = "--micro-batch-size", defaultValue = "1") public int microBatchSize = 1;
    @Option(names = "--global-batch-size") public Integer globalBatchSize;
    @Option(names = "--train-iters", required = true) public long trainIters;

    @Option(names = "--lr", defaultValue = "1e-4") public double lr = 1e-4;
    @Option(names = "--min-lr", defaultValue = "0") public double minLr;
    @Option(names = "--lr-decay-style", defaultValue = "linear") public String lrDecayStyle = "linear";
    @Option(names = "--lr-warmup-iters", defaultValue = "0") public int lrWarmupIters;
    @Option(names = "--lr-decay-iters") public Integer lrDecayIters;
    @Option(names = "--weight-decay", defaultValue = "0.01") public double weightDecay = 0.01;
    @Option(names = "--adam-beta1", defaultValue = "0.9") public double adamBeta1 = 0.9;
    @Option(names = "--adam-beta2", defaultValue = "0.999") public double adamBeta2 = 0.999;
    @Option(names = "--adam-eps", defaultValue = "1e-8") public double adamEps = 1e-8;
    @Option(names = "--clip-grad", defaultValue = "1.0") public double clipGrad = 1.0;
    @Option(names = "--recompute-activations", description = "Megatron's shorthand for --recompute-granularity"
            + " selective.")
    public boolean recomputeActivations;
    @Option(names = "--recompute-granularity", description = "'full' recomputes whole layers in the backward pass;"
            + " 'selective' only the MLP's activation function (attention is always recomputed). Default: keep"
            + " every activation.")
    public String recomputeGranularity;
    @Option(names = "--max-nan-iters", defaultValue = "10",
            description = "Abort after this many consecutive non-finite iterations. Default: ${DEFAULT-VALUE}.")
    public int maxNanIters = 10;

    @Option(names = "--preset", paramLabel = "NAME|FILE",
            description = "A model preset (conf/presets: gpt2-124m … llama3-8b, or a preset .json); its flags come"
                    + " first, so flags given here win.")
    public String preset;
    @Option(names = "--dry-run", description = "Validate the flags (and --config) and print the layout and memory"
            + " plan; read no data, train nothing.")
    public boolean dryRun;
    @Option(names = "--devices", defaultValue = "cpu",
            description = "cpu or cuda: where the ranks compute (cuda: one GPU per rank, NCCL between them)."
                    + " Default: ${DEFAULT-VALUE}.")
    public String devices = "cpu";
    @Option(names = "--bf16", description = "bf16 mixed precision on GPUs: fp32 master weights, GEMMs on bf16"
            + " tensor cores with fp32 accumulation (without it GEMMs are exact fp32).")
    public boolean bf16;
    @Option(names = "--deterministic-mode", description = "Megatron's: kernels that repeat to the bit from run to"
            + " run (cuDNN's deterministic attention backward on GPUs; the CPU backend always is).")
    public boolean deterministicMode;
    @Option(names = "--fp16", description = "fp16 mixed precision: fp32 master weights, GEMMs on fp16 tensor cores"
            + " (--devices cuda) with loss scaling (dynamic unless --loss-scale).")
    public boolean fp16;
    @Option(names = "--loss-scale", description = "fp16: a constant loss scale instead of the dynamic one.")
    public Double lossScale;
    @Option(names = "--initial-loss-scale", defaultValue = "4294967296",
            description = "fp16: the dynamic scaler's first scale. Default: ${DEFAULT-VALUE} (2^32).")
    public double initialLossScale = 4294967296.0;
    @Option(names = "--min-loss-scale", defaultValue = "1", description = "fp16: the dynamic scale's floor.")
    public double minLossScale = 1;
    @Option(names = "--loss-scale-window", defaultValue = "1000",
            description = "fp16: clean iterations before the scale doubles. Default: ${DEFAULT-VALUE}.")
    public int lossScaleWindow = 1000;
    @Option(names = "--hysteresis", defaultValue = "2",
            description = "fp16: overflows tolerated before the scale halves. Default: ${DEFAULT-VALUE}.")
    public int hysteresis = 2;
    @Option(names = "--device-offset", defaultValue = "0", hidden = true,
            description = "First CUDA ordinal of this process's ranks (rank r uses offset + r % GPUs).")
    public int deviceOffset;

    @Option(names = "--world-size", defaultValue = "1",
            description = "Ranks to run as threads on this node; DP = world / (TP × PP). Default: ${DEFAULT-VALUE}.")
    public int worldSize = 1;
    @Option(names = "--tensor-model-parallel-size", defaultValue = "1") public int tensorParallel = 1;
    @Option(names = "--pipeline-model-parallel-size", defaultValue = "1") public int pipelineParallel = 1;
    @Option(names = "--num-layers-per-virtual-pipeline-stage",
            description = "Interleaved pipeline schedule: layers per virtual stage (V = layers / (PP × this)).")
    public Integer layersPerVirtualStage;
    @Option(names = "--sequence-parallel",
            description = "Megatron's sequence parallelism: norm regions sharded over the TP group.")
    public boolean sequenceParallel;
    @Option(names = "--zero-stage", defaultValue = "0",
            description = "ZeRO stage for data parallelism: 0, 1 or 2. Default: ${DEFAULT-VALUE}.")
    public int zeroStage;
    @Option(names = "--use-distributed-optimizer", description = "Megatron's distributed optimizer (= ZeRO-1).")
    public boolean useDistributedOptimizer;
    @Option(names = "--grad-reduce-in-bf16", description = "Data parallelism: reduce gradients in bf16 (half the"
            + " traffic); they are accumulated, clipped and applied in fp32.")
    public boolean gradReduceInBf16;
    @Option(names = "--ddp-bucket-size", description = "Data parallelism (ZeRO 0-2): gradient elements per"
            + " reduction bucket. Default: 40000000.")
    public Long ddpBucketSize;
    @Option(names = "--overlap-param-gather", description = "Distributed optimizer (ZeRO 1-2): the updated"
            + " parameters' all-gather overlaps the next forward pass (each bucket waited for at its first use).")
    public boolean overlapParamGather;
    @Option(names = "--overlap-grad-reduce", description = "Data parallelism (ZeRO 0-2): reduce each gradient bucket"
            + " as soon as the backward passes are done with it, overlapping communication with computation.")
    public boolean overlapGradReduce;
    @Option(names = "--distributed-timeout-minutes", defaultValue = "10",
            description = "How long a rank waits in a collective before failing. Default: ${DEFAULT-VALUE}.")
    public double distributedTimeoutMinutes = 10;
    @Option(names = "--fail-at-iteration", defaultValue = "0",
            description = "Fault drill: rank --fail-rank throws once after this iteration (0 = off).")
    public long failAtIteration;
    @Option(names = "--fail-rank", defaultValue = "0", description = "Fault drill: the rank that fails.")
    public int failRank;
    @Option(names = "--hang-at-iteration", defaultValue = "0",
            description = "Hang drill: rank --fail-rank stops answering after this iteration (0 = off); its peers"
                    + " fail after --distributed-timeout-minutes.")
    public long hangAtIteration;
    @Option(names = "--comm-jitter-us", defaultValue = "0", hidden = true,
            description = "Testing: up to this many microseconds of random delay before every communication.")
    public int commJitterMicros;
    @Option(names = "--data-path", arity = "1..*", split = ",",
            description = "Indexed dataset prefixes or directories of tokenized Parquet shards (local, hdfs://,"
                    + " s3a://), optionally with weights: [w1] p1 [w2 p2 ...].")
    public List<String> dataPath = new ArrayList<>();
    @Option(names = "--mock-data", description = "Random token ids instead of a dataset (Megatron's mock data), for"
            + " benchmarks and layout checks; the vocabulary comes from --vocab-size or --tokenizer.")
    public boolean mockData;
    @Option(names = "--split", defaultValue = "969,30,1") public String split = "969,30,1";
    @Option(names = "--tokenizer", defaultValue = "gpt2",
            description = "gpt2 or a HuggingFace tokenizer.json: fixes the vocabulary size.")
    public String tokenizer = "gpt2";
    @Option(names = "--seed", defaultValue = "1234") public long seed = 1234;
    @Option(names = "--vocab-size",
            description = "The vocabulary size when the data are token ids without a tokenizer (overrides --tokenizer).")
    public Integer vocabSize;

    @Option(names = "--save") public String save;
    @Option(names = "--load") public String load;
    @Option(names = "--save-interval", defaultValue = "0") public int saveInterval;
    @Option(names = "--exit-interval", defaultValue = "0",
            description = "Stop (after saving) once the iteration count is a multiple of this.")
    public int exitInterval;
    @Option(names = "--log-interval", defaultValue = "100") public int logInterval = 100;
    @Option(names = "--eval-interval", defaultValue = "1000") public int evalInterval = 1000;
    @Option(names = "--eval-iters", defaultValue = "100") public int evalIters = 100;

    /** What the backward pass recomputes, from Megatron's two flags (throws naming the flag on a bad value). */
    public dev.lattice.trainer.model.Recomputation recomputation() {
        return dev.lattice.trainer.model.Recomputation.fromFlags(recomputeActivations, recomputeGranularity);
    }
}
