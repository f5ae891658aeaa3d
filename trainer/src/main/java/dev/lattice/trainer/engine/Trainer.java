package dev.lattice.trainer.engine;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.optim.LearningRateSchedule;

import java.io.IOException;
import java.io.PrintStream;
import java.time.LocalDateTime;
import java.util.Locale;

/**
 * The training loop on one rank: gradient accumulation over micro-batches with a token-averaged loss, NaN/Inf
 * detection (skip and count the step; abort after too many in a row), global-norm clipping, AdamW, periodic
 * evaluation, checkpoints and Megatron's log line.
 */
public final class Trainer {

    /** Loop settings (Megatron's flags). */
    public record Settings(int microBatch, int globalBatch, int seqLength, long trainIters,
                           LearningRateSchedule schedule, double clipGrad, int logInterval, int evalInterval,
                           int evalIters, int saveInterval, int maxConsecutiveNanIterations, int exitInterval) {

        public Settings {
            if (microBatch <= 0 || globalBatch <= 0 || globalBatch % microBatch != 0) {
                throw new IllegalArgumentException("--global-batch-size " + globalBatch
                        + " must be a positive multiple of --micro-batch-size " + microBatch);
            }
            if (logInterval <= 0) {
                throw new IllegalArgumentException("--log-interval must be positive");
            }
        }

        int microBatches() {
            return globalBatch / microBatch;
        }
    }

    private final GptModel model;
    private final GradientSync sync;
    private final Settings s;
    private final SampleBatches train;
    private final SampleBatches valid;
    private final Checkpointer checkpointer;
    private final MetricsLog metrics;
    private final PrintStream out;
    private final Backend be;
    private MicrobatchRunner runner = new SequentialRunner();
    private LossScaler scaler;
    private long failAt;
    private long hangAt;
    private String failWho;

    /**
     * @param out where the log goes: the logging rank's console; null on the other ranks
     * @param metrics the logging rank's metrics; null on the other ranks
     */
    public Trainer(GptModel model, GradientSync sync, Settings settings, SampleBatches train, SampleBatches valid,
                   Checkpointer checkpointer, MetricsLog metrics, PrintStream out) {
        this.model = model;
        this.sync = sync;
        model.onGradientsAccumulated(sync::gradientsAccumulated);
        this.s = settings;
        this.train = train;
        this.valid = valid;
        this.checkpointer = checkpointer;
        this.metrics = metrics;
        this.out = out == null ? new PrintStream(java.io.OutputStream.nullOutputStream()) : out;
        this.be = model.backend();
        if (settings.globalBatch() % (settings.microBatch() * sync.dpSize()) != 0) {
            throw new IllegalArgumentException("--global-batch-size " + settings.globalBatch()
                    + " must be a multiple of --micro-batch-size " + settings.microBatch() + " × data-parallel size "
                    + sync.dpSize());
        }
    }

    /** Fault drill: throw after iteration {@code iteration} (so users and tests can watch recovery work). */
    public Trainer withFaultDrill(long iteration, String who) {
        this.failAt = iteration;
        this.failWho = who;
        return this;
    }

    /** Hang drill: stop answering after iteration {@code iteration}, as a rank stuck outside a collective would. */
    public Trainer withHangDrill(long iteration, String who) {
        this.hangAt = iteration;
        this.failWho = who;
        return this;
    }

    /** fp16 loss scaling ({@code --fp16}); without it the scale is 1 and nothing is skipped for overflow. */
    public Trainer withLossScaler(LossScaler s) {
        this.scaler = s;
        return this;
    }

    /** The current loss scale (1 without {@code --fp16}). */
    public double lossScale() {
        return scaler == null ? 1.0 : scaler.scale();
    }

    /** Runs the micro-batches through a pipeline schedule instead of one after another. */
    public Trainer withRunner(MicrobatchRunner r) {
        this.runner = r;
        return this;
    }

    /**
     * The losses of one iteration: the token-averaged loss and the gradient norm (NaN when skipped); {@code overflow}
     * when fp16 loss scaling skipped it (an expected event, not a NaN iteration).
     */
    public record Step(double loss, double gradNorm, boolean skipped, boolean overflow) {
    }

    /** Runs from {@code state} to {@code --train-iters}; returns the final state. */
    public TrainingState run(TrainingState state) throws IOException {
        TrainingState end = loop(state);
        sync.awaitPending(); // nothing left in flight when the communicators close
        sync.materializeParameters(); // the model whole on every rank for whoever reads it next
        return end;
    }

    private TrainingState loop(TrainingState state) throws IOException {
        TrainingState st = state;
        int consecutiveNan = 0;
        double lossSum = 0;
        int lossCount = 0;
        int skippedInInterval = 0;
        int nanInInterval = 0;
        long intervalStart = System.nanoTime();
        int itersInInterval = 0;
        double lastNorm = Double.NaN;
        while (st.iteration() < s.trainIters()) {
            double lr = s.schedule().at(st.optimizerSteps());
            Step step = step(st.consumedTrainSamples(), lr);
            boolean nan = !step.overflow() && (!Double.isFinite(step.loss()) || !Double.isFinite(step.gradNorm()));
            long consumed = st.consumedTrainSamples() + s.globalBatch();
            if (step.overflow()) { // Megatron leaves skipped iterations out of the logged loss
                skippedInInterval++;
                st = new TrainingState(st.iteration() + 1, consumed, st.consumedValidSamples(),
                        st.skippedIterations() + 1, st.optimizerSteps());
            } else if (nan) {
                consecutiveNan++;
                skippedInInterval++;
                nanInInterval++;
                st = new TrainingState(st.iteration() + 1, consumed, st.consumedValidSamples(),
                        st.skippedIterations() + 1, st.optimizerSteps());
                if (consecutiveNan >= s.maxConsecutiveNanIterations()) {
                    throw new IllegalStateException("aborting: " + consecutiveNan
                            + " iterations in a row had a non-finite loss or gradient (last at iteration "
                            + st.iteration() + ")");
                }
            } else {
                consecutiveNan = 0;
                lossSum += step.loss();
                lossCount++;
                lastNorm = step.gradNorm();
                st = new TrainingState(st.iteration() + 1, consumed, st.consumedValidSamples(),
                        st.skippedIterations(), sync.steps());
            }
            itersInInterval++;
            if (st.iteration() % s.logInterval() == 0 || st.iteration() == s.trainIters()) {
                double secs = (System.nanoTime() - intervalStart) / 1e9;
                double perIter = secs / itersInInterval;
                double tokensPerSec = (double) s.globalBatch() * s.seqLength() / perIter;
                double tflops = Flops.perIteration(model.config(), s.globalBatch(), s.seqLength()) / perIter / 1e12;
                // every GPU of the model's replicas: DP × TP × PP (dividing by DP alone overstated TP and PP runs)
                double tflopsPerGpu = tflops / ((double) sync.dpSize() * model.tensorParallel().size()
                        * model.pipeline().size());
                double meanLoss = lossCount > 0 ? lossSum / lossCount : Double.NaN;
                out.println(LogLine.format(LocalDateTime.now(), st.iteration(), s.trainIters(),
                        st.consumedTrainSamples(), 0, perIter * 1000, tflopsPerGpu, tokensPerSec, lr, s.globalBatch(),
                        meanLoss, lossScale(), lastNorm, skippedInInterval, nanInInterval)
                        + LogLine.eta(s.trainIters() - st.iteration(), perIter));
                if (metrics != null) {
                    metrics.logIteration(st.iteration(), meanLoss, lr, lastNorm, st.consumedTrainSamples(),
                            tokensPerSec, tflopsPerGpu, skippedInInterval, nanInInterval);
                }
                lossSum = 0;
                lossCount = 0;
                skippedInInterval = 0;
                nanInInterval = 0;
                itersInInterval = 0;
                intervalStart = System.nanoTime();
            }
            if (valid != null && s.evalInterval() > 0 && st.iteration() % s.evalInterval() == 0) {
                st = evaluate(st);
            }
            boolean exit = s.exitInterval() > 0 && st.iteration() % s.exitInterval() == 0
                    && st.iteration() < s.trainIters();
            if (checkpointer != null && ((s.saveInterval() > 0 && st.iteration() % s.saveInterval() == 0) || exit)) {
                sync.awaitPending(); // gathers in flight land in the model first
                checkpointer.save(st);
            }
            if (exit) {
                out.println(" > exiting program at iteration " + st.iteration() + " (--exit-interval)");
                return st;
            }
            if (hangAt > 0 && st.iteration() == hangAt) {
                out.println(" > hang drill: " + failWho + " stops after iteration " + hangAt);
                try {
                    Thread.sleep(Long.MAX_VALUE); // until Spark kills the task (interrupt)
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("hang drill: " + failWho + " interrupted", e);
                }
            }
            if (failAt > 0 && st.iteration() == failAt) {
                throw new IllegalStateException("fault drill: " + failWho + " fails after iteration " + failAt
                        + " (--fail-at-iteration)");
            }
        }
        if (checkpointer != null && (s.saveInterval() <= 0 || st.iteration() % s.saveInterval() != 0)) {
            sync.awaitPending();
            checkpointer.save(st);
        }
        return st;
    }

    /**
     * One iteration: forward and backward over this rank's micro-batches of the global batch starting at sample
     * {@code firstSample} (Megatron's sampler: micro-step i takes samples firstSample + i·mbs·DP + dpRank·mbs ...),
     * then gradient reduction, clipping and the optimizer step (skipped when anything is not finite). Returns the
     * loss averaged over all tokens of the global batch.
     */
    public Step step(long firstSample, double lr) {
        int mbs = s.microBatch();
        int dpSize = sync.dpSize();
        Batch[] batches = new Batch[s.globalBatch() / (mbs * dpSize)];
        double localTokens = 0;
        for (int i = 0; i < batches.length; i++) {
            batches[i] = train.batchAt(firstSample + (long) i * mbs * dpSize + (long) sync.dpRank() * mbs);
            localTokens += batches[i].maskedTokens();
        }
        double tokens = sync.sum(localTokens);
        if (tokens == 0) {
            throw new IllegalStateException("a global batch without a single token to predict (all masked)");
        }
        model.zeroGradients();
        sync.beginBackward(batches.length);
        double scale = lossScale();
        // The per-token weights carry the loss scale; the gradients are unscaled before reduction and clipping.
        double lossSum = runner.trainStep(model, batches, tokens / scale);
        model.finishGradients();
        // offered every step, 1 included, so a sync that takes it never keeps an old factor
        if (!sync.unscaleAfterReduction(1.0 / scale) && scale != 1.0) {
            for (Tensor g : model.gradients().values()) {
                be.scale(g, (float) (1.0 / scale));
            }
        }
        double loss = sync.sum(lossSum) / tokens;
        if (!Double.isFinite(loss)) {
            sync.awaitPending();
            return new Step(loss, Double.NaN, true, false);
        }
        double norm = sync.reduceClipStep(model, lr, s.clipGrad());
        boolean overflow = scaler != null && !Double.isFinite(norm);
        if (scaler != null) {
            scaler.update(overflow);
        }
        return new Step(loss, norm, !Double.isFinite(norm), overflow);
    }

    /** Megatron's evaluation: {@code --eval-iters} global batches of the validation split, loss token-averaged. */
    public TrainingState evaluate(TrainingState st) throws IOException {
        double lossSum = 0;
        double tokens = 0;
        long consumed = st.consumedValidSamples();
        int mbs = s.microBatch();
        int dpSize = sync.dpSize();
        for (int it = 0; it < s.evalIters(); it++) {
            Batch[] batches = new Batch[s.globalBatch() / (mbs * dpSize)];
            for (int m = 0; m < batches.length; m++) {
                if (consumed + (long) mbs * dpSize > valid.size()) {
                    consumed = 0; // the validation split wraps rather than ending the run
                }
                batches[m] = valid.batchAt(consumed + (long) sync.dpRank() * mbs);
                consumed += (long) mbs * dpSize;
            }
            double[] r = runner.evaluate(model, batches);
            lossSum += r[0];
            tokens += r[1];
        }
        double loss = sync.sum(lossSum) / Math.max(1, sync.sum(tokens));
        String line = String.format(Locale.ROOT,
                " validation loss at iteration %d | lm loss value: %.6E | lm loss PPL: %.6E |", st.iteration(), loss,
                Math.exp(Math.min(loss, 20)));
        out.println("-".repeat(line.length()));
        out.println(line);
        out.println("-".repeat(line.length()));
        if (metrics != null) {
            metrics.logValidation(st.iteration(), loss);
        }
        return new TrainingState(st.iteration(), st.consumedTrainSamples(), consumed, st.skippedIterations(),
                st.optimizerSteps());
    }
}
