package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Collectives;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.pipeline.Action;
import dev.lattice.parallel.pipeline.P2pOp;
import dev.lattice.parallel.pipeline.PipelineSchedules;
import dev.lattice.parallel.pipeline.PipelineStep;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.PipelineContext;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs Megatron's 1F1B or interleaved schedule ({@link PipelineSchedules}) for this rank's model chunks: computes the forward and backward
 * steps of its micro-batches and carries out the schedule's sends and receives of activations and their gradients
 * with the neighbouring stages. Afterwards the tied word-embedding gradients of the first and last stage are summed
 * (Megatron's embedding group).
 */
public final class PipelineRunner implements MicrobatchRunner {

    private final PipelineContext pp;

    public PipelineRunner(PipelineContext pp) {
        this.pp = pp;
    }

    @Override
    public double trainStep(GptModel model, Batch[] batches, double globalTokens) {
        double lossSum = run(model, batches, globalTokens, false)[0];
        if (model.config().tiedEmbeddings() && pp.embedding() != null) {
            Tensor g = model.gradients().get(ParameterLayout.WORD_EMBEDDINGS);
            pp.embedding().allReduce(g, 0, g.numel(), ReduceOp.SUM);
            model.gradientsSummed(java.util.List.of(ParameterLayout.WORD_EMBEDDINGS));
        }
        return lossSum;
    }

    @Override
    public double[] evaluate(GptModel model, Batch[] batches) {
        return run(model, batches, 1, true);
    }

    private double[] run(GptModel model, Batch[] batches, double globalTokens, boolean forwardOnly) {
        Backend be = model.backend();
        Communicator comm = pp.pipeline();
        int m = batches.length;
        int chunks = model.stage().chunks();
        List<Action> actions = PipelineSchedules.actions(pp.size(), pp.rank(), m, chunks, pp.size(), forwardOnly);
        // Keyed by microbatch · chunks + chunk.
        Map<Integer, GptModel.Microbatch> states = new HashMap<>();
        Map<Integer, Tensor> inputs = new HashMap<>();
        Map<Integer, Tensor> outputGrads = new HashMap<>();
        Map<Integer, Tensor> inputGrads = new HashMap<>();
        double lossSum = 0;
        double tokens = 0;
        int h = model.config().hiddenSize();
        for (Action a : actions) {
            if (a.isCompute()) {
                PipelineStep step = a.step();
                int c = step.chunk();
                int key = step.microbatch() * chunks + c;
                Batch b = batches[step.microbatch()];
                boolean head = model.stage().computesLoss(c);
                if (step.isForward()) {
                    // the head stage computes the loss's gradient with the loss (the weights are known already)
                    Tensor input = model.stage().embeds(c) ? null : inputs.remove(key);
                    GptModel.Microbatch state = model.forwardStage(b, input, c,
                            head && !forwardOnly ? MicrobatchRunner.weights(b, globalTokens) : null);
                    recycle(be, input); // copied into the stage's residual stream
                    if (head) {
                        lossSum += MicrobatchRunner.maskedLoss(state.losses(), b);
                        tokens += b.maskedTokens();
                    }
                    states.put(key, state);
                } else {
                    GptModel.Microbatch state = states.remove(key);
                    Tensor dout = head ? null : outputGrads.remove(key);
                    Tensor din = model.backwardStage(state, head ? MicrobatchRunner.weights(b, globalTokens) : null,
                            dout);
                    recycle(be, dout); // copied into the stage's residual gradient
                    if (din != null) {
                        inputGrads.put(key, din);
                    }
                }
                continue;
            }
            // Sends first, then receives, each in list order (the schedule's contract), as one group.
            comm.groupStart();
            List<Tensor> sentGradients = new java.util.ArrayList<>();
            for (P2pOp op : a.ops()) {
                if (!op.kind().isSend()) {
                    continue;
                }
                int key = op.microbatch() * chunks + op.chunk();
                Tensor t = op.kind() == P2pOp.Kind.SEND_FORWARD ? states.get(key).output() : inputGrads.remove(key);
                if (op.kind() != P2pOp.Kind.SEND_FORWARD) {
                    sentGradients.add(t);
                }
                comm.send(t, 0, t.numel(), op.peerRank());
            }
            for (P2pOp op : a.ops()) {
                if (op.kind().isSend()) {
                    continue;
                }
                Batch b = batches[op.microbatch()];
                Tensor t = be.activations(model.boundaryRows(b), h); // the storage the peer sends (bf16 or fp32)
                comm.recv(t, 0, t.numel(), op.peerRank());
                (op.kind() == P2pOp.Kind.RECV_FORWARD ? inputs : outputGrads).put(op.microbatch() * chunks + op.chunk(),
                        t);
            }
            comm.groupEnd();
            sentGradients.forEach(t -> recycle(be, t)); // groupEnd waited for the sends
        }
        if (forwardOnly) {
            states.values().forEach(model::release); // back to the pool for the next pass
            states.clear();
        }
        return new double[] {Collectives.sum(comm, lossSum), Collectives.sum(comm, tokens)};
    }

    /**
     * A transfer buffer is dead once its contents are copied in or sent: one a micro-batch and chunk in each
     * direction, which left to the garbage collector made the GPU allocator take new blocks for them (GPT-2 350M PP2
     * on H200s, session 11: "max allocated" 11.2 GB against a plan of 5.8).
     */
    private static void recycle(Backend be, Tensor t) {
        if (t != null) {
            be.recycle(t);
        }
    }
}
