package dev.lattice.trainer.model;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A decoder-only transformer (GPT-2 or Llama, by {@link ModelConfig}) with explicit forward and backward passes on a
 * {@link Backend}, read top to bottom like llm.c's training step. Pre-norm blocks:
 * <pre>
 *   x = embed(tokens)                        (+ learned positions for GPT-2)
 *   per layer:  x = x + proj(attn(rope?(qkv(norm1(x)))))
 *               x = x + fc2(act(fc1(norm2(x))))   act = GELU (GPT-2) or SwiGLU (Llama)
 *   logits = output(normf(x))                (output = word embeddings when tied)
 * </pre>
 * {@link #forward} keeps what {@link #backward} needs; with full-layer recomputation only each layer's input is kept
 * and the layer is recomputed during the backward pass. Gradients accumulate across micro-batches until
 * {@link #zeroGradients}.
 */
public final class GptModel implements AutoCloseable {

    private final ModelConfig config;
    private final Backend be;
    private final ParameterLayout layout;
    private final Recomputation recomputation;
    private final TensorParallel tp;
    private final int heads;      // query heads on this rank
    private final int groups;     // query groups on this rank
    private final int qkvRows;    // rows of the local QKV projection
    private final int ffn;        // FFN size on this rank
    private final int fc1Rows;
    private final int vocabRows;  // padded-vocabulary rows on this rank
    private final int vocabStart;
    private final int vocabValid; // of them, real (non-padding) vocabulary entries
    private final PipelineStage stage;
    private PipelineContext pipeline = PipelineContext.NONE;
    private boolean sequenceParallel;
    private ParameterHooks hooks;
    private GradientsListener gradientsDone;
    private int passesSinceZero; // backward passes (of chunk 0: one per micro-batch) since zeroGradients
    /**
     * Weight-matrix gradients zeroGradients left stale instead of zeroing: the first product into each one overwrites
     * it (a GEMM with beta 0), which spares the zero fill of ~all the gradient bytes and that product's read of them
     * (PyTorch's set_to_none). Any other first writer zeroes it first ({@link #g}). -Dlattice.overwriteGradients=false
     * zeroes every gradient as before.
     */
    private final java.util.Set<String> staleGradients = new java.util.HashSet<>();
    private final java.util.List<String> overwrittenGradients; // left stale by zeroGradients (fixed per model)
    private final java.util.List<Tensor> zeroedGradients;      // filled by zeroGradients, one list every step
    /**
     * On the stage that embeds, the first layer's QKV and FC1 weight gradients are made after the embedding backward
     * instead of before it: the word embeddings' gradient (final only after that backward, and with ZeRO in a bucket
     * of its own) starts its reduction ~0.3 ms earlier and runs beside them. Same products, same values.
     * -Dlattice.deferFirstLayerWgrad=false keeps the plain order (A/B runs).
     */
    private boolean deferFirstLayerWeightGradients =
            Boolean.parseBoolean(System.getProperty("lattice.deferFirstLayerWgrad", "true"));
    private static final boolean OVERWRITE_GRADIENTS =
            Boolean.parseBoolean(System.getProperty("lattice.overwriteGradients", "true"));

    /** Told which parameters' gradients are final for how many backward passes (see onGradientsAccumulated). */
    @FunctionalInterface
    public interface GradientsListener {
        void accumulated(java.util.List<String> names, int passes);
    }

    /**
     * Makes parameters present before they are used and lets them go afterwards: ZeRO-3 all-gathers a layer's
     * parameters just before its forward or backward and frees them after. Every data-parallel rank makes the same
     * calls in the same order.
     */
    public interface ParameterHooks {
        void acquire(java.util.List<String> names);

        void release(java.util.List<String> names);
    }
    private final java.util.List<ParameterLayout.Spec> specs;
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> grads = new LinkedHashMap<>();
    private ReplicatedGradientSum replicatedSum; // sequence parallelism's one all-reduce, made on first use
    private final java.util.ArrayDeque<Activations> pool = new java.util.ArrayDeque<>();

    private Microbatch last; // the legacy forward/backward pair's micro-batch
    private long activationBytes; // every activation buffer allocated (they are pooled, never freed)

    /** @param recomputeActivations whole layers (FULL) if true, else the activation function only (SELECTIVE) */
    public GptModel(ModelConfig config, Backend backend, boolean recomputeActivations) {
        this(config, backend, recomputeActivations, TensorParallel.NONE);
    }

    /** The whole model on one rank, recomputing what {@code recomputation} says in the backward pass. */
    public GptModel(ModelConfig config, Backend backend, Recomputation recomputation) {
        this(config, backend, recomputation, TensorParallel.NONE, PipelineStage.whole(config));
    }

    /**
     * A model whose parameters are this rank's tensor-parallel shards (Megatron's column/row-parallel linears,
     * attention split by query groups, vocabulary-parallel embedding and cross-entropy).
     *
     * @throws IllegalArgumentException naming the constraint when the model cannot be split over {@code tp.size()}
     */
    public GptModel(ModelConfig config, Backend backend, boolean recomputeActivations, TensorParallel tp) {
        this(config, backend, recomputeActivations, tp, PipelineStage.whole(config));
    }

    /** One pipeline stage's part of the model (see {@link PipelineStage}), sharded for tensor parallelism. */
    public GptModel(ModelConfig config, Backend backend, boolean recomputeActivations, TensorParallel tp,
                    PipelineStage stage) {
        this(config, backend, recomputeActivations ? Recomputation.FULL : Recomputation.SELECTIVE, tp, stage);
    }

    /** As above, with what the backward pass recomputes (see {@link Recomputation}). */
    public GptModel(ModelConfig config, Backend backend, Recomputation recomputation, TensorParallel tp,
                    PipelineStage stage) {
        this.config = config;
        this.stage = stage;
        this.be = backend;
        this.layout = new ParameterLayout(config);
        this.recomputation = recomputation;
        this.tp = tp;
        int t = tp.size();
        if (config.numQueryGroups() % t != 0) {
            throw new IllegalArgumentException("--num-query-groups " + config.numQueryGroups()
                    + " (query groups; = heads without GQA) is not divisible by --tensor-model-parallel-size " + t);
        }
        if (config.ffnHiddenSize() % t != 0) {
            throw new IllegalArgumentException("--ffn-hidden-size " + config.ffnHiddenSize()
                    + " is not divisible by --tensor-model-parallel-size " + t);
        }
        if (config.paddedVocabSize() % t != 0) {
            throw new IllegalArgumentException("the padded vocabulary " + config.paddedVocabSize()
                    + " is not divisible by --tensor-model-parallel-size " + t
                    + " (pad with --make-vocab-size-divisible-by)");
        }
        this.heads = config.numAttentionHeads() / t;
        this.groups = config.numQueryGroups() / t;
        this.qkvRows = config.qkvSize() / t;
        this.ffn = config.ffnHiddenSize() / t;
        this.fc1Rows = config.fc1Size() / t;
        this.vocabRows = config.paddedVocabSize() / t;
        this.vocabStart = tp.rank() * vocabRows;
        this.vocabValid = Math.max(0, Math.min(vocabRows, config.vocabSize() - vocabStart));
        this.specs = layout.specs().stream().filter(sp -> stage.holds(sp.name(), config)).toList();
        for (ParameterLayout.Spec s : specs) {
            int[] local = s.split().localShape(s.shape(), t, s.name());
            params.put(s.name(), be.zeros(local));
            grads.put(s.name(), be.zeros(local));
        }
        // matrices are GEMM operands (the position embeddings are not, and a backend only rounds what it multiplies)
        be.keepBf16Copies(specs.stream().filter(sp -> sp.shape().length == 2).map(sp -> params.get(sp.name()))
                .toList());
        java.util.List<String> overwritten = new java.util.ArrayList<>();
        java.util.List<Tensor> zeroed = new java.util.ArrayList<>();
        for (ParameterLayout.Spec s : specs) {
            if (OVERWRITE_GRADIENTS && s.shape().length == 2 && !s.name().equals(ParameterLayout.POSITION_EMBEDDINGS)) {
                overwritten.add(s.name()); // products write these first (embedding backward: g zeroes it)
            } else {
                zeroed.add(grads.get(s.name()));
            }
        }
        this.overwrittenGradients = java.util.List.copyOf(overwritten);
        this.zeroedGradients = java.util.List.copyOf(zeroed);
    }

    /** Whether the backward pass runs each layer's forward again (FULL): one set of layer activations serves all. */
    private boolean recomputesLayers() {
        return recomputation == Recomputation.FULL;
    }

    public PipelineStage stage() {
        return stage;
    }

    /** The pipeline this stage belongs to (NONE without pipeline parallelism). */
    public PipelineContext pipeline() {
        return pipeline;
    }

    public GptModel withPipeline(PipelineContext context) {
        this.pipeline = context;
        return this;
    }

    /**
     * Megatron's sequence parallelism (with TP > 1): the residual stream, norms and dropout-free regions hold only
     * this rank's block of rows; all-gathers before column-parallel layers and reduce-scatters after row-parallel
     * layers replace the all-reduces. Parameters replicated over TP then receive partial gradients, which
     * {@link #finishGradients} sums.
     */
    public GptModel withSequenceParallel(boolean on) {
        this.sequenceParallel = on && tp.enabled();
        return this;
    }

    public boolean sequenceParallel() {
        return sequenceParallel;
    }

    /** Whether the first layer's weight gradients wait for the embedding backward (see the field). */
    public GptModel deferFirstLayerWeightGradients(boolean defer) {
        this.deferFirstLayerWeightGradients = defer;
        return this;
    }

    public GptModel withParameterHooks(ParameterHooks h) {
        this.hooks = h;
        return this;
    }

    /** Swaps the tensor behind a parameter (ZeRO-3 puts a gathered tensor in, and an empty one back). */
    public void replaceParameter(String name, Tensor t) {
        if (!params.containsKey(name)) {
            throw new IllegalArgumentException("no parameter " + name + " on this stage");
        }
        params.put(name, t);
    }

    private final Map<Integer, java.util.List<String>> layerNames = new java.util.HashMap<>();

    private java.util.List<String> namesOfLayer(int l) {
        return layerNames.computeIfAbsent(l, k -> specs.stream().map(ParameterLayout.Spec::name)
                .filter(n -> n.startsWith(ParameterLayout.layer(k, ""))).toList());
    }

    private java.util.List<String> embeddingNames() {
        return specs.stream().map(ParameterLayout.Spec::name).filter(n -> n.equals(ParameterLayout.WORD_EMBEDDINGS)
                || n.equals(ParameterLayout.POSITION_EMBEDDINGS)).toList();
    }

    private java.util.List<String> headNames() {
        return specs.stream().map(ParameterLayout.Spec::name).filter(n -> n.startsWith(ParameterLayout.FINAL_NORM)
                || n.equals(ParameterLayout.OUTPUT_LAYER)
                || (config.tiedEmbeddings() && n.equals(ParameterLayout.WORD_EMBEDDINGS))).toList();
    }

    /**
     * Told, during each backward pass, the names of parameters whose gradients that pass will not touch again, each
     * parameter of the stage exactly once per pass (after the head, after each layer, after the embedding): data
     * parallelism reduces a bucket once every micro-batch is done with it, while the backward pass goes on.
     * Parameters whose gradients are summed after the backward passes — the replicated ones under sequence
     * parallelism ({@link #finishGradients}) and the tied word embeddings across pipeline stages (the runner's
     * embedding-group sum, {@link #gradientsSummed}) — are reported once that sum is done, for all passes at once.
     */
    public void onGradientsAccumulated(GradientsListener listener) {
        this.gradientsDone = listener;
    }

    private void accumulated(java.util.List<String> names) {
        if (gradientsDone == null) {
            return;
        }
        java.util.List<String> now = names.stream().filter(n -> !summedLater(n)).toList();
        if (!now.isEmpty()) {
            gradientsDone.accumulated(now, 1);
        }
    }

    /** Whether a sum after the backward passes still changes this parameter's gradient. */
    private boolean summedLater(String name) {
        if (sequenceParallel && layout.spec(name).split() == TpSplit.REPLICATED) {
            return true;
        }
        return config.tiedEmbeddings() && name.equals(ParameterLayout.WORD_EMBEDDINGS) && pipeline.embedding() != null;
    }

    /**
     * The caller summed these parameters' gradients after the backward passes (the pipeline's embedding group):
     * they are final now, for every pass since {@link #zeroGradients}.
     */
    public void gradientsSummed(java.util.List<String> names) {
        if (gradientsDone != null && passesSinceZero > 0) {
            java.util.List<String> held = names.stream().filter(n -> params.containsKey(n) && summedLater(n))
                    .toList();
            if (!held.isEmpty()) {
                gradientsDone.accumulated(held, passesSinceZero);
            }
        }
    }

    private void acquire(java.util.List<String> names) {
        if (hooks != null) {
            hooks.acquire(names);
        }
    }

    private void release(java.util.List<String> names) {
        if (hooks != null) {
            hooks.release(names);
        }
    }

    /**
     * Completes the gradients of one step: zeroes any no backward pass wrote and, under sequence parallelism, sums
     * replicated parameters over TP.
     */
    public void finishGradients() {
        zeroStaleGradients();
        if (!sequenceParallel) {
            return;
        }
        if (replicatedSum == null) {
            replicatedSum = ReplicatedGradientSum.of(be, specs.stream().filter(s -> s.split() == TpSplit.REPLICATED)
                    .map(s -> java.util.Map.entry(s.name(), grads.get(s.name()))).toList());
        }
        replicatedSum.sum(tp);
        gradientsSummed(replicatedSum.names());
    }

    /** Rows of the hidden states a stage sends and receives: this rank's block under sequence parallelism. */
    public int boundaryRows(Batch b) {
        int n = b.batch() * b.seq();
        return sequenceParallel ? n / tp.size() : n;
    }

    /** Full rows into {@code full} from each rank's block ({@code local}); a no-op without sequence parallelism. */
    private void gather(Tensor local, Tensor full) {
        if (sequenceParallel) {
            tp.comm().allGather(local, 0, full, 0, local.numel());
        }
    }

    /** Sums partial full rows over TP: into each rank's block under sequence parallelism, else in place. */
    private void reduce(Tensor full, Tensor local) {
        if (sequenceParallel) {
            tp.comm().reduceScatter(full, 0, local, 0, local.numel(), dev.lattice.parallel.comm.ReduceOp.SUM);
        } else {
            tp.sum(full);
        }
    }

    /** The parameters this model (stage) holds, in layout order. */
    public java.util.List<ParameterLayout.Spec> specs() {
        return specs;
    }

    public TensorParallel tensorParallel() {
        return tp;
    }

    /** Uploads full (unsharded) values, keeping this rank's shard of each. */
    public void loadFull(Map<String, float[]> full) {
        for (ParameterLayout.Spec s : specs) {
            float[] v = full.get(s.name());
            if (v == null) {
                throw new IllegalArgumentException("no values for parameter " + s.name());
            }
            be.upload(params.get(s.name()), s.split().shard(v, s.shape(), tp.size(), tp.rank()));
        }
    }

    /**
     * The full tensors of {@code local} (shards of this model's layout, e.g. parameters or Adam moments), gathered
     * over the tensor-parallel group: a collective, every TP rank must call it.
     */
    public Map<String, float[]> gatherFull(Map<String, Tensor> local) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (ParameterLayout.Spec s : specs) {
            Tensor t = local.get(s.name());
            float[] mine = be.toHost(t);
            if (!tp.enabled() || s.split() == TpSplit.REPLICATED) {
                out.put(s.name(), mine);
                continue;
            }
            float[] all = new float[mine.length * tp.size()];
            tp.comm().allGather(new dev.lattice.parallel.comm.HostBuffer(mine), 0,
                    new dev.lattice.parallel.comm.HostBuffer(all), 0, mine.length);
            float[][] shards = new float[tp.size()][];
            for (int r = 0; r < tp.size(); r++) {
                shards[r] = java.util.Arrays.copyOfRange(all, r * mine.length, (r + 1) * mine.length);
            }
            out.put(s.name(), s.split().gather(shards, s.shape(), tp.size()));
        }
        return out;
    }

    public ModelConfig config() {
        return config;
    }

    public ParameterLayout layout() {
        return layout;
    }

    public Backend backend() {
        return be;
    }

    /** Parameters by name, in layout order. */
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * Gradients by parameter name. Between {@link #zeroGradients} and {@link #finishGradients} a weight matrix's
     * gradient holds stale values until its layer's backward pass writes it: read one there only once the
     * {@link GradientsListener} has called it final.
     */
    public Map<String, Tensor> gradients() {
        return grads;
    }

    /**
     * Megatron's initialisation: weights ~ normal(0, σ) with σ = {@code initStd} (0.02), output projections of each
     * layer (attention proj, fc2) with σ/√(2L), norm weights 1, biases 0. Each parameter draws from its own
     * stream split from {@code seed}, so the result does not depend on anything but the seed and the config.
     */
    public void initialize(long seed, double initStd) {
        InitRandom root = new InitRandom(seed); // SplittableRandom's streams, drawn on all cores
        double scaled = initStd / Math.sqrt(2.0 * config.numLayers());
        for (ParameterLayout.Spec s : layout.specs()) {
            InitRandom rnd = root.split();
            float[] v = new float[Math.toIntExact(s.numel())];
            switch (s.init()) {
                case ONES -> java.util.Arrays.fill(v, 1f);
                case ZEROS -> { }
                case NORMAL, SCALED_NORMAL -> rnd.fillNormal(v, s.init() == ParameterLayout.Init.NORMAL ? initStd
                        : scaled);
            }
            if (s.name().equals(ParameterLayout.WORD_EMBEDDINGS) || s.name().equals(ParameterLayout.OUTPUT_LAYER)) {
                // Padding rows never produce a logit that counts; keep them zero.
                java.util.Arrays.fill(v, config.vocabSize() * config.hiddenSize(), v.length, 0f);
            }
            // Drawn in full for every parameter (so each keeps its random stream), then sharded and kept where this
            // stage holds it: every parallel layout starts from the single-rank model.
            if (params.containsKey(s.name())) {
                be.upload(params.get(s.name()), s.split().shard(v, s.shape(), tp.size(), tp.rank()));
            }
        }
    }

    public void zeroGradients() {
        staleGradients.clear();
        staleGradients.addAll(overwrittenGradients);
        be.fillZeros(zeroedGradients);
        passesSinceZero = 0;
    }

    /** Zeroes the gradients no product wrote since {@link #zeroGradients} (none in a full backward pass). */
    private void zeroStaleGradients() {
        if (!staleGradients.isEmpty()) {
            be.fillZeros(staleGradients.stream().map(grads::get).toList());
            staleGradients.clear();
        }
    }

    private Tensor p(String name) {
        return params.get(name);
    }

    /** The gradient of {@code name} for an operation that adds to it: zeroed first if still stale. */
    private Tensor g(String name) {
        Tensor t = grads.get(name);
        if (staleGradients.remove(name)) {
            be.fillZeros(java.util.List.of(t));
        }
        return t;
    }

    /**
     * Whether a product into the gradient of {@code name} adds to it (false: the first write since
     * {@link #zeroGradients}, which overwrites the stale contents; the gradient counts as written from here on).
     */
    private boolean accumulates(String name) {
        return !staleGradients.remove(name);
    }

    private Tensor outputWeight() {
        return config.tiedEmbeddings() ? p(ParameterLayout.WORD_EMBEDDINGS) : p(ParameterLayout.OUTPUT_LAYER);
    }

    private String outputGradName() {
        return config.tiedEmbeddings() ? ParameterLayout.WORD_EMBEDDINGS : ParameterLayout.OUTPUT_LAYER;
    }

    /** outputGrad += dlogitsᵀ · lnf (over {@code rows} rows), or = on its first write. */
    private void outputWeightBackward(Tensor dlogits, Tensor lnf, int rows) {
        String name = outputGradName();
        float beta = accumulates(name) ? 1f : 0f;
        be.matmul(grads.get(name), dlogits, true, lnf, false, vocabRows, config.hiddenSize(), rows, 1f, beta);
    }

    /** One micro-batch in flight: its batch and the activations its backward pass needs. */
    public final class Microbatch {
        private final Batch batch;
        private final int chunk;
        private Activations acts;
        private float[] losses;
        private float[] fusedLossWeights; // the loss weights whose gradient the forward pass already wrote

        private Microbatch(Batch batch, int chunk, Activations acts) {
            this.batch = batch;
            this.chunk = chunk;
            this.acts = acts;
        }

        public int chunk() {
            return chunk;
        }

        /** Per-token losses (last stage only). */
        public float[] losses() {
            return losses;
        }

        /** The stage's output hidden states [B·T, h], to send to the next stage (not the last stage). */
        public Tensor output() {
            return acts.resid[stage.layers(chunk)];
        }

        public Batch batch() {
            return batch;
        }
    }

    /**
     * Runs the forward pass and returns the per-token losses [B·T] (unmasked; the caller weights them). Keeps the
     * activations for {@link #backward}.
     */
    public float[] forward(Batch b) {
        return forward(b, null);
    }

    /**
     * As {@link #forward(Batch)}, given the loss weights its {@link #backward} will get: the loss's gradient is then
     * computed in the same pass as the loss, over the logits while they are still in cache (Megatron and llm.c fuse
     * the classifier the same way), and {@link #backward} must get exactly these weights. Null: not fused.
     */
    public float[] forward(Batch b, float[] lossWeights) {
        if (last != null) {
            release(last); // a forward without backward (evaluation, scoring)
        }
        last = forwardStage(b, null, 0, lossWeights);
        return last.losses;
    }

    /**
     * This stage's forward pass of one micro-batch through model chunk {@code chunk} (a virtual pipeline stage) of
     * this rank. The first stage embeds {@code b}'s tokens; later stages start from {@code input}, the previous
     * stage's output. The last stage also computes the losses; given {@code lossWeights} (not null: the weights its
     * {@link #backwardStage} will get) it computes the loss's gradient with them (see
     * {@link #forward(Batch, float[])}).
     */
    public Microbatch forwardStage(Batch b, Tensor input, int chunk, float[] lossWeights) {
        if (b.seq() > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + b.seq() + " exceeds --max-position-embeddings "
                    + config.maxPositionEmbeddings());
        }
        checkTokens(b.tokens(), "input");
        checkTokens(b.targets(), "target");
        Activations a = acquire(b.batch(), b.seq(), chunk);
        a.pendingResidual = null;
        Microbatch mb = new Microbatch(b, chunk, a);
        boolean gpt = config.family() == ModelConfig.Family.GPT2;
        if (stage.embeds(chunk)) {
            acquire(embeddingNames());
        }
        if (!stage.embeds(chunk)) {
            if (input == null) {
                throw new IllegalStateException("stage without the embedding needs its input hidden states");
            }
            be.copy(a.resid[0], input);
        } else if (sequenceParallel) {
            // Partial embeddings of every row (each rank's vocabulary shard); positions added once (rank 0); the
            // reduce-scatter sums them and leaves each rank its block of rows.
            be.vocabParallelEmbedding(a.embFull, b.tokens(), p(ParameterLayout.WORD_EMBEDDINGS), vocabStart,
                    vocabRows, a.rows, config.hiddenSize());
            if (gpt && tp.rank() == 0) {
                be.addPositionEmbedding(a.embFull, p(ParameterLayout.POSITION_EMBEDDINGS), b.batch(), b.seq(),
                        config.hiddenSize());
            }
            reduce(a.embFull, a.resid[0]);
        } else if (tp.enabled()) {
            be.vocabParallelEmbedding(a.resid[0], b.tokens(), p(ParameterLayout.WORD_EMBEDDINGS), vocabStart,
                    vocabRows, a.rows, config.hiddenSize());
            tp.sum(a.resid[0]);
            if (gpt) {
                be.addPositionEmbedding(a.resid[0], p(ParameterLayout.POSITION_EMBEDDINGS), b.batch(), b.seq(),
                        config.hiddenSize());
            }
        } else {
            be.embeddingForward(a.resid[0], b.tokens(), p(ParameterLayout.WORD_EMBEDDINGS),
                    gpt ? p(ParameterLayout.POSITION_EMBEDDINGS) : null, b.batch(), b.seq(), config.hiddenSize());
        }
        if (stage.embeds(chunk)) {
            release(embeddingNames());
        }
        for (int l = stage.layerStart(chunk); l < stage.layerEnd(chunk); l++) {
            acquire(namesOfLayer(l));
            // a layer's output goes out whole only where another stage takes it; else the next norm adds it
            boolean sent = l == stage.layerEnd(chunk) - 1 && !stage.computesLoss(chunk);
            layerForward(a, l, a.layer(l - stage.layerStart(chunk)), !sent);
            release(namesOfLayer(l));
        }
        if (!stage.computesLoss(chunk)) {
            return mb;
        }
        acquire(headNames());
        try {
            return head(mb, a, b, lossWeights);
        } finally {
            release(headNames());
        }
    }

    /**
     * Rows of logits the head computes at once when it also computes the loss's gradient
     * ({@code -Dlattice.headChunkRows}, default 4096).
     */
    public static int headChunkRows() {
        return Integer.getInteger("lattice.headChunkRows", 4096);
    }

    /**
     * The head's buffers for one chunk of rows, shared by every micro-batch (made at first use, grown as needed); the
     * chunk's input and output rows only when a micro-batch takes more than one chunk.
     */
    private final class HeadScratch {
        final int rows;
        final Tensor lnf; // null unless micro-batches take more than one chunk (as dlnf)
        final Tensor logits;
        final Tensor dlnf;
        final Tensor losses;
        final Tensor lse;
        final Tensor target; // tensor parallelism: the target logits summed over the vocabulary shards (else null)
        final long bytes;

        HeadScratch(int rows, boolean chunked) {
            this.rows = rows;
            int h = config.hiddenSize();
            lnf = chunked ? be.activations(rows, h) : null;
            logits = be.activations(rows, vocabRows);
            dlnf = chunked ? be.activations(rows, h) : null;
            losses = be.zeros(rows);
            lse = be.zeros(rows);
            target = tp.enabled() ? be.zeros(rows) : null;
            bytes = (long) be.activationBytes() * (logits.numel() + (chunked ? 2L * rows * h : 0))
                    + 4 * (total(losses, lse) + (target == null ? 0 : target.numel()));
        }
    }

    private HeadScratch headScratch;

    /**
     * The head with the loss's gradient (the weights are known): chunk by chunk of rows, the logits, the loss and its
     * gradient written over them, then the gradient of the final norm's output (under tensor parallelism this
     * vocabulary shard's part, summed over the shards in the backward pass) and the output weight's gradient. Only
     * one chunk of logits exists at a time (Megatron and llm.c fuse the classifier for the same reason), and the
     * backward pass starts from {@code a.dlnfFull}.
     */
    private void headWithGradient(Activations a, Batch b, float[] lossWeights) {
        int n = a.rows;
        int h = config.hiddenSize();
        int chunkRows = Math.max(1, Math.min(n, headChunkRows()));
        boolean chunked = n > chunkRows;
        if (headScratch == null || headScratch.rows < chunkRows || chunked && headScratch.lnf == null) {
            if (headScratch != null) {
                activationBytes -= headScratch.bytes;
            }
            headScratch = new HeadScratch(chunkRows, chunked);
            activationBytes += headScratch.bytes;
        }
        HeadScratch hs = headScratch;
        Tensor lnf = chunked ? hs.lnf : a.lnfFull; // one chunk: the rows in place
        Tensor dlnf = chunked ? hs.dlnf : a.dlnfFull;
        for (int r0 = 0; r0 < n; r0 += chunkRows) {
            int rc = Math.min(chunkRows, n - r0);
            if (chunked) {
                be.copyRange(lnf, 0, a.lnfFull, (long) r0 * h, (long) rc * h);
            }
            be.matmul(hs.logits, lnf, false, outputWeight(), true, rc, vocabRows, h, 1f, 0f);
            lossAndGradient(hs, java.util.Arrays.copyOfRange(b.targets(), r0, r0 + rc),
                    java.util.Arrays.copyOfRange(lossWeights, r0, r0 + rc), rc);
            be.copyRange(a.losses, r0, hs.losses, 0, rc);
            be.matmul(dlnf, hs.logits, false, outputWeight(), false, rc, h, vocabRows, 1f, 0f);
            if (chunked) {
                be.copyRange(a.dlnfFull, (long) r0 * h, dlnf, 0, (long) rc * h);
            }
            outputWeightBackward(hs.logits, lnf, rc);
        }
    }

    /**
     * The loss of a chunk's {@code rows} rows of logits into hs.losses and hs.lse, and its gradient with these weights
     * written over the logits; under tensor parallelism the vocabulary-parallel loss (global max, sum of exponentials
     * and target logit by all-reduce) and this shard's gradient.
     */
    private void lossAndGradient(HeadScratch hs, int[] targets, float[] weights, int rows) {
        if (!tp.enabled()) {
            be.crossEntropyForwardBackward(hs.losses, hs.lse, hs.logits, targets, weights, rows, config.vocabSize(),
                    config.paddedVocabSize());
            return;
        }
        // hs.lse holds the row maxima and hs.losses the sums of exponentials until they are turned into both
        vocabParallelLoss(hs.logits, targets, rows, hs.lse, hs.losses, hs.target, hs.lse, hs.losses);
        be.vocabParallelCrossEntropyBackward(hs.logits, hs.logits, hs.lse, targets, weights, vocabStart, rows,
                vocabRows, vocabValid);
    }

    /**
     * The vocabulary-parallel loss of {@code rows} rows of this shard's logits: the global row maxima, sums of
     * exponentials and target logits by all-reduce (into max, sum, target), then the log-sum-exps and losses,
     * uploaded into lse and losses (which may be max and sum) and returned.
     */
    private float[] vocabParallelLoss(Tensor logits, int[] targets, int rows, Tensor max, Tensor sum, Tensor target,
                                      Tensor lse, Tensor losses) {
        be.logitsRowMax(max, logits, rows, vocabRows, vocabValid);
        tp.max(max);
        be.logitsRowSumExp(sum, logits, max, rows, vocabRows, vocabValid);
        tp.sum(sum);
        be.logitsTarget(target, logits, targets, vocabStart, rows, vocabRows, vocabValid);
        tp.sum(target);
        float[] m = be.toHost(max);
        float[] s = be.toHost(sum);
        float[] t = be.toHost(target);
        float[] lseRows = new float[Math.toIntExact(lse.numel())];
        float[] lossRows = new float[Math.toIntExact(losses.numel())];
        for (int i = 0; i < rows; i++) {
            lseRows[i] = m[i] + (float) Math.log(s[i]);
            lossRows[i] = lseRows[i] - t[i];
        }
        be.upload(lse, lseRows);
        be.upload(losses, lossRows);
        return java.util.Arrays.copyOf(lossRows, rows);
    }

    private Microbatch head(Microbatch mb, Activations a, Batch b, float[] lossWeights) {
        int chunk = mb.chunk;
        int n = a.rows;
        int h = config.hiddenSize();
        normOfOutput(a, a.lnf, a.meanf, a.rstdf, a.resid[stage.layers(chunk)], ParameterLayout.FINAL_NORM);
        gather(a.lnf, a.lnfFull);
        if (lossWeights != null) {
            headWithGradient(a, b, lossWeights);
            mb.fusedLossWeights = lossWeights.clone();
            mb.losses = be.toHost(a.losses);
            return mb;
        }
        Tensor logits = a.logits();
        be.matmul(logits, a.lnfFull, false, outputWeight(), true, n, vocabRows, h, 1f, 0f);
        if (!tp.enabled()) {
            be.crossEntropyForward(a.losses, a.lse, logits, b.targets(), n, config.vocabSize(),
                    config.paddedVocabSize());
            mb.losses = be.toHost(a.losses);
            return mb;
        }
        mb.losses = vocabParallelLoss(logits, b.targets(), n, a.ceMax, a.ceSum, a.ceTarget, a.lse, a.losses);
        return mb;
    }

    private Activations acquire(int b, int t, int chunk) {
        for (java.util.Iterator<Activations> it = pool.iterator(); it.hasNext(); ) {
            Activations a = it.next();
            if (a.batch == b && a.seq == t && a.chunk == chunk) {
                it.remove();
                return a;
            }
        }
        Activations a = new Activations(b, t, chunk);
        activationBytes += a.bytes;
        return a;
    }

    /** Bytes of activation buffers this model has allocated (the peak: buffers are pooled and reused). */
    public long activationBytes() {
        return activationBytes;
    }

    /**
     * Bytes of gradient accumulators this rank holds, with sequence parallelism's packed buffer of the replicated
     * gradients once a step has made it (MemoryPlan counts it the same way).
     */
    public long gradientBytes() {
        long n = 0;
        for (Tensor t : grads.values()) {
            n += t.numel();
        }
        return 4 * (n + (replicatedSum == null ? 0 : replicatedSum.packedElements()));
    }

    /** Bytes of parameters this rank holds right now (ZeRO-3 keeps its shards elsewhere). */
    public long parameterBytes() {
        long n = 0;
        for (Tensor t : params.values()) {
            n += t.numel();
        }
        return 4 * n + be.bf16CopyBytes(params.values()); // fp32 masters and the GEMMs' bf16 roundings
    }

    /** Returns a micro-batch's activations to the pool without a backward pass (forward-only pipelines). */
    public void release(Microbatch mb) {
        if (mb.acts != null) {
            pool.push(mb.acts);
            mb.acts = null;
        }
    }

    private void checkTokens(int[] ids, String what) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new IllegalArgumentException(what + " token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }

    /**
     * The logits of the last forward pass [B·T, padded vocab] (columns ≥ vocab are padding); with tensor
     * parallelism, this rank's vocabulary shard. Valid until the backward pass, whose logit gradients take their
     * place. Only after {@link #forward(Batch)}: a forward pass given the loss weights keeps no logits.
     */
    public float[] logits() {
        if (last == null || last.acts == null || last.acts.logits == null) {
            throw new IllegalStateException("no logits: they are kept by forward(batch) only, not by a forward pass"
                    + " that computed the loss's gradient or after the backward pass");
        }
        return be.toHost(last.acts.logits);
    }

    /**
     * @param deferOutput leave the layer's last residual add to the norm that reads its output (the next layer's
     *     input norm or the final norm: one add + norm pass instead of an add pass and a norm pass, the same values)
     */
    private void layerForward(Activations a, int l, LayerActivations la, boolean deferOutput) {
        int n = a.rows;
        int h = config.hiddenSize();
        int d = config.headDim();
        int i = l - stage.layerStart(a.chunk);
        Tensor x = a.resid[i];
        int nl = a.localRows;
        normOfOutput(a, la.ln1, la.mean1, la.rstd1, x, ParameterLayout.layer(l, "input_layernorm"));
        gather(la.ln1, la.ln1Full);
        linear(la.qkv, la.ln1Full, l, "self_attention.linear_qkv", n, h, qkvRows);
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.ropeForward(la.qkv, a.batch, a.seq, heads, groups, d, config.ropeTheta());
        }
        be.attentionForward(la.att, la.lse, la.qkv, a.batch, a.seq, heads, groups, d);
        rowParallelLinear(la.projFull, la.attProj, la.att, l, "self_attention.linear_proj", n, nl, heads * d, h);
        addNorm(la.resid2, la.ln2, la.mean2, la.rstd2, x, la.attProj, ParameterLayout.layer(l, "pre_mlp_layernorm"),
                nl, h);
        gather(la.ln2, la.ln2Full);
        if (config.family() == ModelConfig.Family.LLAMA) {
            linear(la.fc1, la.ln2Full, l, "mlp.linear_fc1", n, h, fc1Rows);
            be.swigluForward(la.act, la.fc1, n, ffn);
        } else { // fc1 keeps the pre-activation for the backward pass
            String fc1 = ParameterLayout.layer(l, "mlp.linear_fc1");
            be.linearGeluForward(la.act, la.fc1, la.ln2Full, p(fc1 + ".weight"), bias(fc1), n, fc1Rows, h);
        }
        rowParallelLinear(la.fc2Full, la.fc2, la.act, l, "mlp.linear_fc2", n, nl, ffn, h);
        if (deferOutput) {
            a.pendingResidual = la; // resid[i + 1] = resid2 + fc2, written by the norm that reads it
        } else {
            be.add(a.resid[i + 1], la.resid2, la.fc2);
        }
    }

    /**
     * The norm of a layer's output {@code x}: when the previous layer deferred its residual add, that add and this
     * norm in one pass ({@code x} written on the way), else the norm of the stored {@code x}.
     */
    private void normOfOutput(Activations a, Tensor out, Tensor mean, Tensor rstd, Tensor x, String prefix) {
        LayerActivations p = a.pendingResidual;
        a.pendingResidual = null;
        if (p != null) {
            addNorm(x, out, mean, rstd, p.resid2, p.fc2, prefix, a.localRows, config.hiddenSize());
        } else {
            norm(out, mean, rstd, x, prefix, a.localRows, config.hiddenSize());
        }
    }

    private void norm(Tensor out, Tensor mean, Tensor rstd, Tensor inp, String prefix, int n, int h) {
        if (config.family() == ModelConfig.Family.GPT2) {
            be.layerNormForward(out, mean, rstd, inp, p(prefix + ".weight"), p(prefix + ".bias"), n, h,
                    config.normEpsilon());
        } else {
            be.rmsNormForward(out, rstd, inp, p(prefix + ".weight"), n, h, config.normEpsilon());
        }
    }

    /** resid = x + delta, then the norm of resid (one pass on GPUs). */
    private void addNorm(Tensor resid, Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor delta, String prefix,
                         int n, int h) {
        boolean gpt = config.family() == ModelConfig.Family.GPT2;
        be.addNormForward(resid, out, gpt ? mean : null, rstd, x, delta, p(prefix + ".weight"),
                gpt ? p(prefix + ".bias") : null, n, h, config.normEpsilon());
    }

    private void normBackward(Tensor dinp, Tensor dout, Tensor inp, Tensor mean, Tensor rstd, String prefix, int n,
                              int h) {
        if (config.family() == ModelConfig.Family.GPT2) {
            be.layerNormBackward(dinp, g(prefix + ".weight"), g(prefix + ".bias"), dout, inp, p(prefix + ".weight"),
                    mean, rstd, n, h);
        } else {
            be.rmsNormBackward(dinp, g(prefix + ".weight"), dout, inp, p(prefix + ".weight"), rstd, n, h);
        }
    }

    private void linear(Tensor out, Tensor inp, int l, String name, int n, int in, int outDim) {
        String prefix = ParameterLayout.layer(l, name);
        be.linearForward(out, inp, p(prefix + ".weight"), bias(prefix), n, outDim, in);
    }

    /** A layer's bias, or null where the model has none. */
    private Tensor bias(String prefix) {
        return config.biases() ? p(prefix + ".bias") : null;
    }

    /** Its gradient, or null where the model has no biases. */
    private Tensor biasGrad(String prefix) {
        return config.biases() ? g(prefix + ".bias") : null;
    }

    /**
     * A row-parallel linear layer: each rank multiplies its slice of the input features, the partial outputs are
     * summed over the tensor-parallel group, and the (replicated) bias is added once, after the sum.
     */
    private void rowParallelLinear(Tensor outFull, Tensor out, Tensor inp, int l, String name, int n, int nl, int in,
                                   int outDim) {
        String prefix = ParameterLayout.layer(l, name);
        if (!tp.enabled()) { // nothing to sum: the bias can join the GEMM
            be.linearForward(out, inp, p(prefix + ".weight"), bias(prefix), n, outDim, in);
            return;
        }
        be.matmul(outFull, inp, false, p(prefix + ".weight"), true, n, outDim, in, 1f, 0f);
        reduce(outFull, out); // all-reduce, or reduce-scatter into this rank's rows under sequence parallelism
        if (config.biases()) {
            be.addBias(out, p(prefix + ".bias"), nl, outDim);
        }
    }

    /**
     * Backward of a row-parallel layer: dinp = doutFull·W (written); dW += doutFullᵀ·inp; the replicated bias from
     * this rank's rows (summed over TP later under sequence parallelism).
     */
    private void rowParallelBackward(Tensor dinp, Tensor doutFull, Tensor dout, Tensor inp, int l, String name, int n,
                                     int nl, int in, int outDim) {
        be.matmul(dinp, doutFull, false, p(ParameterLayout.layer(l, name) + ".weight"), false, n, in, outDim, 1f, 0f);
        rowParallelWeightBackward(doutFull, dout, inp, l, name, n, nl, in, outDim);
    }

    /** dW += doutFullᵀ·inp; db += Σ dout over this rank's rows (all rows, doutFull itself, without SP). */
    private void rowParallelWeightBackward(Tensor doutFull, Tensor dout, Tensor inp, int l, String name, int n, int nl,
                                           int in, int outDim) {
        String prefix = ParameterLayout.layer(l, name);
        if (!sequenceParallel) { // doutFull is dout: the bias gradient can join the weight-gradient GEMM
            weightBackward(prefix, biasGrad(prefix), doutFull, inp, n, outDim, in);
            return;
        }
        weightBackward(prefix, null, doutFull, inp, n, outDim, in);
        if (config.biases()) {
            be.biasBackward(g(prefix + ".bias"), dout, nl, outDim);
        }
    }

    /**
     * dinp = dout·W (written); dW += doutᵀ·inp; db += Σ dout. The weight gradient runs now, or is added to
     * {@code later} when not null (then {@code dout} and {@code inp} must stay unwritten until it runs).
     */
    private void linearBackward(Tensor dinp, Tensor dout, Tensor inp, int l, String name, int n, int in, int outDim,
                                java.util.List<Runnable> later) {
        String prefix = ParameterLayout.layer(l, name);
        be.matmul(dinp, dout, false, p(prefix + ".weight"), false, n, in, outDim, 1f, 0f);
        Runnable weightGradient = () -> weightBackward(prefix, biasGrad(prefix), dout, inp, n, outDim, in);
        if (later == null) {
            weightGradient.run();
        } else {
            later.add(weightGradient);
        }
    }

    /** dW += doutᵀ·inp (= on its first write since zeroGradients); dbias, when not null, += Σ dout. */
    private void weightBackward(String prefix, Tensor dbias, Tensor dout, Tensor inp, int n, int outDim, int in) {
        String w = prefix + ".weight";
        be.linearWeightBackward(grads.get(w), dbias, dout, inp, n, outDim, in, accumulates(w));
    }

    /**
     * Back-propagates the loss {@code Σ_i lossWeights[i] · loss_i} of the last forward pass into the gradients
     * (accumulating). For a token-averaged loss over a global batch, the weight is mask / tokens-in-the-batch.
     */
    public void backward(float[] lossWeights) {
        if (last == null || last.acts == null) {
            throw new IllegalStateException("backward without a forward pass");
        }
        Microbatch mb = last;
        last = null;
        backwardStage(mb, lossWeights, null);
    }

    /**
     * This stage's backward pass of a micro-batch from its forward: the last stage starts from the loss weights,
     * the others from {@code doutput}, the gradient of their output received from the next stage. Accumulates the
     * parameter gradients and returns the gradient of the stage's input (null on the first stage). The micro-batch's
     * activations are released.
     */
    public Tensor backwardStage(Microbatch mb, float[] lossWeights, Tensor doutput) {
        Activations a = mb.acts;
        if (a == null) {
            throw new IllegalStateException("micro-batch already back-propagated");
        }
        Batch batch = mb.batch;
        int n = a.rows;
        int h = config.hiddenSize();
        int chunk = mb.chunk;
        if (chunk == 0) {
            passesSinceZero++;
        }
        if (stage.computesLoss(chunk)) {
            acquire(headNames());
            if (mb.fusedLossWeights != null) { // the forward pass did the head's backward (headWithGradient)
                if (!java.util.Arrays.equals(mb.fusedLossWeights, lossWeights)) {
                    throw new IllegalArgumentException("backward with other loss weights than the forward pass"
                            + " that already computed the loss's gradient with its own");
                }
                reduce(a.dlnfFull, a.dlnf);
            } else {
                Tensor dlogits = a.logits(); // the gradient overwrites the logits (each read before it is written)
                if (tp.enabled()) {
                    be.vocabParallelCrossEntropyBackward(dlogits, dlogits, a.lse, batch.targets(), lossWeights,
                            vocabStart, n, vocabRows, vocabValid);
                } else {
                    be.crossEntropyBackward(dlogits, dlogits, a.lse, batch.targets(), lossWeights, n,
                            config.vocabSize(), config.paddedVocabSize());
                }
                // logits = lnf · Woutᵀ (column-parallel over the vocabulary: input gradients are summed over TP)
                be.matmul(a.dlnfFull, dlogits, false, outputWeight(), false, n, h, vocabRows, 1f, 0f);
                reduce(a.dlnfFull, a.dlnf);
                outputWeightBackward(dlogits, a.lnfFull, n);
            }
            be.fill(a.dresid, 0f);
            normBackward(a.dresid, a.dlnf, a.resid[stage.layers(chunk)], a.meanf, a.rstdf, ParameterLayout.FINAL_NORM,
                    a.localRows, h);
            release(headNames());
            // a tied word embedding is done only after the embedding's backward below
            accumulated(stage.embeds(chunk) ? headNames().stream()
                    .filter(name -> !name.equals(ParameterLayout.WORD_EMBEDDINGS)).toList() : headNames());
        } else {
            if (doutput == null) {
                throw new IllegalStateException("stage without the head needs the gradient of its output");
            }
            be.copy(a.dresid, doutput);
        }
        java.util.List<Runnable> firstLayerWeightGradients = null; // deferred past the embedding backward
        for (int l = stage.layerEnd(chunk) - 1; l >= stage.layerStart(chunk); l--) {
            LayerActivations la = a.layer(l - stage.layerStart(chunk));
            acquire(namesOfLayer(l));
            if (recomputesLayers()) {
                layerForward(a, l, la, false);
            }
            boolean defer = deferFirstLayerWeightGradients && stage.embeds(chunk) && l == stage.layerStart(chunk);
            java.util.List<Runnable> later = defer ? new java.util.ArrayList<>() : null;
            layerBackward(a, l, la, later);
            release(namesOfLayer(l));
            if (defer) {
                firstLayerWeightGradients = later;
            } else {
                accumulated(namesOfLayer(l));
            }
        }
        Tensor dinput = null;
        if (stage.embeds(chunk)) {
            boolean gpt = config.family() == ModelConfig.Family.GPT2;
            if (sequenceParallel) {
                gather(a.dresid, a.dresFull);
                be.vocabParallelEmbeddingBackward(g(ParameterLayout.WORD_EMBEDDINGS), a.dresFull, batch.tokens(),
                        vocabStart, vocabRows, n, h);
                if (gpt && tp.rank() == 0) { // the rank that added the positions
                    be.addPositionEmbeddingBackward(g(ParameterLayout.POSITION_EMBEDDINGS), a.dresFull, a.batch,
                            a.seq, h);
                }
            } else if (tp.enabled()) {
                be.vocabParallelEmbeddingBackward(g(ParameterLayout.WORD_EMBEDDINGS), a.dresid, batch.tokens(),
                        vocabStart, vocabRows, n, h);
                if (gpt) {
                    be.addPositionEmbeddingBackward(g(ParameterLayout.POSITION_EMBEDDINGS), a.dresid, a.batch, a.seq,
                            h);
                }
            } else {
                be.embeddingBackward(g(ParameterLayout.WORD_EMBEDDINGS),
                        gpt ? g(ParameterLayout.POSITION_EMBEDDINGS) : null, a.dresid, batch.tokens(), a.batch,
                        a.seq, h);
            }
            accumulated(embeddingNames());
            if (firstLayerWeightGradients != null) {
                // the embeddings' gradient reduction (launched by the line above) runs beside these products
                firstLayerWeightGradients.forEach(Runnable::run);
                accumulated(namesOfLayer(stage.layerStart(chunk)));
            }
        } else {
            dinput = be.activations(a.localRows, h); // sent to the previous stage: activation storage
            be.copy(dinput, a.dresid);
        }
        release(mb);
        return dinput;
    }

    /**
     * On entry a.dresid = dL/d(layer output); on exit dL/d(layer input). With {@code later} not null, the weight
     * gradients of the two column-parallel linears (QKV, FC1) are added to it instead of made: their inputs (the
     * layer's norm outputs, dqkv, dfc1) are not written again in this backward pass.
     */
    private void layerBackward(Activations a, int l, LayerActivations la, java.util.List<Runnable> later) {
        int n = a.rows;
        int nl = a.localRows;
        int h = config.hiddenSize();
        int d = config.headDim();
        Tensor dres = a.dresid;
        // MLP branch: out = resid2 + fc2(act(fc1(ln2(resid2))))
        if (recomputation == Recomputation.SELECTIVE) {
            // act is one buffer for all layers (it is the largest activation and cheap to recompute, as
            // torch.compile does): this layer's, from its saved pre-activation, for fc2's weight gradient
            if (config.family() == ModelConfig.Family.LLAMA) {
                be.swigluForward(la.act, la.fc1, n, ffn);
            } else {
                be.geluForward(la.act, la.fc1);
            }
        }
        gather(dres, a.dresFull);
        if (config.family() == ModelConfig.Family.LLAMA) {
            rowParallelBackward(a.dact, a.dresFull, dres, la.act, l, "mlp.linear_fc2", n, nl, ffn, h);
            be.swigluBackward(a.dfc1, la.fc1, a.dact, n, ffn);
        } else { // d(fc1 pre-activation) straight from fc2's input-gradient GEMM (a.dact: scratch if not fused)
            be.linearBackwardThroughGelu(a.dfc1, a.dact, la.fc1, a.dresFull,
                    p(ParameterLayout.layer(l, "mlp.linear_fc2") + ".weight"), n, h, ffn);
            rowParallelWeightBackward(a.dresFull, dres, la.act, l, "mlp.linear_fc2", n, nl, ffn, h);
        }
        linearBackward(a.dlnFull, a.dfc1, la.ln2Full, l, "mlp.linear_fc1", n, h, fc1Rows, later);
        reduce(a.dlnFull, a.dln); // column-parallel: each rank holds part of the input gradient
        normBackward(dres, a.dln, la.resid2, la.mean2, la.rstd2, ParameterLayout.layer(l, "pre_mlp_layernorm"), nl,
                h);
        // Attention branch: resid2 = x + proj(attn(qkv(ln1(x))))
        gather(dres, a.dresFull);
        rowParallelBackward(a.datt, a.dresFull, dres, la.att, l, "self_attention.linear_proj", n, nl, heads * d, h);
        be.attentionBackward(a.dqkv, a.datt, la.qkv, la.att, la.lse, a.batch, a.seq, heads, groups, d);
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.ropeBackward(a.dqkv, a.batch, a.seq, heads, groups, d, config.ropeTheta());
        }
        linearBackward(a.dlnFull, a.dqkv, la.ln1Full, l, "self_attention.linear_qkv", n, h, qkvRows, later);
        reduce(a.dlnFull, a.dln);
        normBackward(dres, a.dln, a.resid[l - stage.layerStart(a.chunk)], la.mean1, la.rstd1,
                ParameterLayout.layer(l, "input_layernorm"), nl, h);
    }

    /**
     * Activations of one layer. "Local" tensors hold this rank's rows (all rows without sequence parallelism);
     * the {@code *Full} tensors hold every row and are the same objects as their local twins without it.
     */
    private final class LayerActivations {
        final Tensor ln1;
        final Tensor ln1Full;
        final Tensor mean1;
        final Tensor rstd1;
        final Tensor qkv;
        final Tensor att;
        final Tensor lse;
        final Tensor projFull;
        final Tensor attProj;
        final Tensor resid2;
        final Tensor ln2;
        final Tensor ln2Full;
        final Tensor mean2;
        final Tensor rstd2;
        final Tensor fc1;
        final Tensor act;
        final Tensor fc2Full;
        final Tensor fc2;

        /**
         * @param projOut the row-parallel outputs' buffer (and {@code projOutFull} its full-rows twin), shared by the
         *     micro-batch's layers: the attention projection and the second MLP linear are consumed by the
         *     residual add right after they are computed, and the backward pass never reads them
         */
        LayerActivations(int b, int t, int nl, Tensor projOut, Tensor projOutFull, Tensor actOut) {
            int n = b * t;
            int h = config.hiddenSize();
            ln1 = be.activations(nl, h);
            ln1Full = full(ln1, n, h);
            mean1 = be.zeros(nl);
            rstd1 = be.zeros(nl);
            qkv = be.activations(n, qkvRows);
            att = be.activations(n, heads * config.headDim());
            lse = be.zeros(b * heads * t);
            attProj = projOut;
            projFull = projOutFull;
            resid2 = be.activations(nl, h);
            ln2 = be.activations(nl, h);
            ln2Full = full(ln2, n, h);
            mean2 = be.zeros(nl);
            rstd2 = be.zeros(nl);
            fc1 = be.activations(n, fc1Rows);
            act = actOut;
            fc2 = projOut;
            fc2Full = projOutFull;
        }

        /** Elements this layer holds alone (the shared buffers count with the micro-batch). */
        long numel() {
            return total(ln1, ln1Full, mean1, rstd1, qkv, att, lse, resid2, ln2, ln2Full, mean2, rstd2, fc1)
                    + (recomputation == Recomputation.NONE ? act.numel() : 0);
        }

        /** Of those, the fp32 statistics (everything else is activation storage). */
        long statistics() {
            return total(mean1, rstd1, lse, mean2, rstd2);
        }
    }

    /** A full-rows twin of {@code local}: its own buffer under sequence parallelism, else {@code local} itself. */
    private Tensor full(Tensor local, int rows, int cols) {
        return sequenceParallel ? be.activations(rows, cols) : local;
    }

    /** Elements of distinct tensors (aliases counted once). */
    private static long total(Tensor... ts) {
        java.util.Set<Tensor> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        long n = 0;
        for (Tensor t : ts) {
            if (seen.add(t)) {
                n += t.numel();
            }
        }
        return n;
    }

    /** All activations and backward scratch for one micro-batch shape. */
    private final class Activations {
        /** The layer whose output (resid2 + fc2) the next norm still has to add (see layerForward), or null. */
        LayerActivations pendingResidual;
        final int batch;
        final int seq;
        final int chunk;
        final int rows;
        final int localRows;
        final Tensor[] resid;
        final LayerActivations[] layers;
        final Tensor embFull;
        final Tensor lnf;
        final Tensor lnfFull;
        final Tensor meanf;
        final Tensor rstdf;
        private Tensor logits; // the whole micro-batch's logits: only when the loss's gradient is not fused (logits())
        final Tensor losses;
        final Tensor lse;
        final Tensor ceMax;
        final Tensor ceSum;
        final Tensor ceTarget;
        final Tensor projOut;
        final Tensor projOutFull;
        final Tensor actOut; // the layers' shared MLP activation (GELU/SwiGLU output) unless each keeps its own
        final Tensor dlnf;
        final Tensor dlnfFull;
        final Tensor dresid;
        final Tensor dresFull;
        final Tensor dln;
        final Tensor dlnFull;
        final Tensor dqkv;
        final Tensor datt;
        final Tensor dfc1;
        final Tensor dact;

        final long bytes;

        Activations(int b, int t, int chunk) {
            batch = b;
            seq = t;
            this.chunk = chunk;
            rows = b * t;
            if (sequenceParallel && rows % tp.size() != 0) {
                throw new IllegalArgumentException("--sequence-parallel: micro-batch × sequence = " + rows
                        + " tokens do not split over --tensor-model-parallel-size " + tp.size());
            }
            localRows = sequenceParallel ? rows / tp.size() : rows;
            int h = config.hiddenSize();
            int layersCount = stage.layers(chunk);
            resid = new Tensor[layersCount + 1];
            for (int i = 0; i <= layersCount; i++) {
                resid[i] = be.activations(localRows, h);
            }
            // With recomputation one set of layer activations is reused by every layer.
            layers = new LayerActivations[recomputesLayers() ? Math.min(1, layersCount) : layersCount];
            projOut = be.activations(localRows, h);
            projOutFull = full(projOut, rows, h);
            // one MLP activation buffer for all layers unless each layer keeps its own (NONE)
            boolean ownAct = recomputation == Recomputation.NONE;
            actOut = ownAct ? null : be.activations(rows, ffn);
            for (int i = 0; i < layers.length; i++) {
                layers[i] = new LayerActivations(b, t, localRows, projOut, projOutFull,
                        ownAct ? be.activations(rows, ffn) : actOut);
            }
            embFull = full(resid[0], rows, h);
            lnf = be.activations(localRows, h);
            lnfFull = full(lnf, rows, h);
            meanf = be.zeros(localRows);
            rstdf = be.zeros(localRows);
            losses = be.zeros(rows);
            lse = be.zeros(rows);
            ceMax = be.zeros(rows);
            ceSum = be.zeros(rows);
            ceTarget = be.zeros(rows);
            dlnf = be.activations(localRows, h);
            dlnfFull = full(dlnf, rows, h);
            dresid = be.activations(localRows, h);
            dresFull = full(dresid, rows, h);
            dln = be.activations(localRows, h);
            dlnFull = full(dln, rows, h);
            dqkv = be.activations(rows, qkvRows);
            datt = be.activations(rows, heads * config.headDim());
            dfc1 = be.activations(rows, fc1Rows);
            dact = be.activations(rows, ffn);
            long n = 0;
            long stats = total(meanf, rstdf, losses, lse, ceMax, ceSum, ceTarget); // fp32 whatever the storage
            for (Tensor x : resid) {
                n += x.numel();
            }
            for (LayerActivations la : layers) {
                n += la.numel();
                stats += la.statistics();
            }
            n += total(embFull == resid[0] ? lnf : embFull, lnf, lnfFull, meanf, rstdf, losses, lse, ceMax, ceSum,
                    ceTarget, dlnf, dlnfFull, dresid, dresFull, dln, dlnFull, dqkv, datt, dfc1, dact, projOut,
                    projOutFull);
            n += actOut == null ? 0 : actOut.numel();
            bytes = (long) be.activationBytes() * (n - stats) + 4 * stats;
        }

        LayerActivations layer(int l) {
            return layers[recomputesLayers() ? 0 : l];
        }

        /** The micro-batch's logits [rows, vocabRows], made at first use; the backward writes their gradient there. */
        Tensor logits() {
            if (logits == null) {
                logits = be.activations(rows, vocabRows);
                activationBytes += (long) be.activationBytes() * logits.numel();
            }
            return logits;
        }
    }

    @Override
    public void close() {
        last = null;
        pool.clear();
    }
}
