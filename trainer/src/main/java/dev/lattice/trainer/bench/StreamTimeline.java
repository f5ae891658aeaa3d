package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.cuda.CudaBackend;
import org.bytedeco.cuda.cudart.CUevent_st;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;

/**
 * Where an unsynchronised step's GPU time goes: a {@link CudaBackend} wrapper that records a CUDA event on the
 * compute stream before and after every backend call, without waiting. After the step, the time between a call's
 * two events is its GPU time (its kernels plus any gaps inside it), and the time between one call's end and the next
 * one's start is GPU idle time — the stream had nothing queued because the host had not issued the next call yet
 * (launch overhead, host work, a host wait). Unlike {@link OpProfile} it does not serialise host and GPU, so the
 * totals are the step's own; the host time spent inside each call is kept beside them, and how often the host
 * came late: the stream had already finished everything queued before the call when the host issued it (collectives
 * between backend calls included), so the GPU waited for the host's work inside this call too — its GPU time then
 * includes host time.
 */
public final class StreamTimeline implements AutoCloseable {

    private final CudaBackend be;
    private final List<CUevent_st> events = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    private final List<Long> hostNanos = new ArrayList<>();
    private final List<Boolean> late = new ArrayList<>(); // the stream was drained when the host issued the call
    private final Map<String, double[]> byOp = new HashMap<>(); // {calls, GPU ms, idle ms before, host ms, late}
    private int used;
    private boolean on;
    private double stepMs;
    private int steps;
    private String lastStepPlaces = ""; // the last step's collectives and step-edge calls, in ms from its start

    public StreamTimeline(CudaBackend be) {
        this.be = be;
    }

    /** A backend that records events around every call of the wrapped one while a step is being recorded. */
    public Backend wrap(Backend inner) {
        return BackendCalls.wrap(inner, (method, args, call) -> {
            String name = method.getName();
            if (!on || name.equals("synchronize") || name.equals("name")) {
                return call.proceed();
            }
            // everything queued so far done, collectives between backend calls included (not just the last call)
            boolean drained = cudaStreamQuery(be.stream()) == 0;
            record();
            long t0 = System.nanoTime();
            Object r = call.proceed();
            hostNanos.add(System.nanoTime() - t0);
            names.add(name);
            late.add(drained);
            record();
            return r;
        });
    }

    private void record() {
        if (used == events.size()) {
            CUevent_st e = new CUevent_st();
            Cuda.check(cudaEventCreate(e), "cudaEventCreate");
            events.add(e);
        }
        Cuda.check(cudaEventRecord(events.get(used++), be.stream()), "cudaEventRecord");
    }

    /** Starts recording one step (the stream should be idle: the caller synchronised). */
    public void begin() {
        used = 0;
        names.clear();
        hostNanos.clear();
        late.clear();
        on = true;
    }

    /** Ends the step: waits for the stream and adds the step's intervals to the totals. */
    public void end() {
        end(List.of());
    }

    /**
     * Ends the step as {@link #end()}, and places each traced collective of another stream (a data-parallel
     * communicator's, {@code NcclCommunicator.startTrace}) in it beside the calls at the step's edges (the embeddings,
     * the optimizer, the gradient norm, ZeRO's copies): which of them the compute stream waited for. Destroys the
     * collectives' events.
     */
    public void end(List<dev.lattice.parallel.nccl.NcclCommunicator.Traced> collectives) {
        on = false;
        be.synchronize();
        lastStepPlaces = places(collectives);
        for (int i = 0; i < names.size(); i++) {
            double[] acc = byOp.computeIfAbsent(names.get(i), k -> new double[5]);
            acc[0]++;
            acc[1] += elapsed(events.get(2 * i), events.get(2 * i + 1));
            if (i > 0) {
                acc[2] += elapsed(events.get(2 * i - 1), events.get(2 * i));
            }
            acc[3] += hostNanos.get(i) / 1e6;
            acc[4] += late.get(i) ? 1 : 0;
        }
        if (!names.isEmpty()) {
            stepMs += elapsed(events.get(0), events.get(2 * names.size() - 1));
        }
        steps++;
    }

    /** Calls worth placing beside the collectives: where a step begins and ends. */
    private static final java.util.Set<String> EDGE_CALLS = java.util.Set.of("embeddingForward",
            "vocabParallelEmbedding", "embeddingBackward", "vocabParallelEmbeddingBackward", "sumsOfSquares", "adamW",
            "copyRanges", "fillZeros", "toHost");

    private String places(List<dev.lattice.parallel.nccl.NcclCommunicator.Traced> collectives) {
        StringBuilder b = new StringBuilder();
        if (!names.isEmpty() && !collectives.isEmpty()) {
            CUevent_st ref = events.get(0);
            b.append("  the last step's collectives (their own stream) and step-edge calls, ms from the step's first"
                    + " event:\n");
            for (int i = 0; i < names.size(); i++) {
                if (EDGE_CALLS.contains(names.get(i))) {
                    b.append(String.format(Locale.ROOT, "    %8.3f - %8.3f  compute  %s%n",
                            elapsed(ref, events.get(2 * i)), elapsed(ref, events.get(2 * i + 1)), names.get(i)));
                }
            }
            for (var c : collectives) {
                Cuda.check(cudaEventSynchronize(c.after()), "cudaEventSynchronize");
                b.append(String.format(Locale.ROOT, "    %8.3f - %8.3f  comm     %s%n", elapsed(ref, c.before()),
                        elapsed(ref, c.after()), c.what()));
            }
        }
        for (var c : collectives) {
            cudaEventDestroy(c.before());
            cudaEventDestroy(c.after());
        }
        return b.toString();
    }

    /** Milliseconds from event {@code from} to event {@code to} (both complete). */
    private static float elapsed(CUevent_st from, CUevent_st to) {
        float[] ms = new float[1];
        Cuda.check(cudaEventElapsedTime(ms, from, to), "cudaEventElapsedTime");
        return ms[0];
    }

    /** The table per step: each call's GPU time, the idle time before it and the host time inside it. */
    public String render() {
        List<Map.Entry<String, double[]>> rows = new ArrayList<>(byOp.entrySet());
        rows.sort((a, b) -> Double.compare(b.getValue()[1] + b.getValue()[2], a.getValue()[1] + a.getValue()[2]));
        double gpu = rows.stream().mapToDouble(e -> e.getValue()[1]).sum() / steps;
        double idle = rows.stream().mapToDouble(e -> e.getValue()[2]).sum() / steps;
        double host = rows.stream().mapToDouble(e -> e.getValue()[3]).sum() / steps;
        double lateCalls = rows.stream().mapToDouble(e -> e.getValue()[4]).sum() / steps;
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "timeline (unsynchronised, per step over %d"
                + " steps): first to last event %.2f ms = %.2f ms inside calls + %.2f ms stream idle between calls;"
                + " host time inside calls %.2f ms; the host came late (stream drained) for %.0f calls%n", steps,
                stepMs / steps, gpu, idle, host, lateCalls));
        b.append("      GPU ms   idle before   host ms   calls    late  op\n");
        for (var e : rows) {
            double[] v = e.getValue();
            b.append(String.format(Locale.ROOT, "  %10.3f  %12.3f  %8.3f  %6.0f  %6.0f  %s%n", v[1] / steps,
                    v[2] / steps, v[3] / steps, v[0] / steps, v[4] / steps, e.getKey()));
        }
        return b.append(lastStepPlaces).toString();
    }

    @Override
    public void close() {
        for (CUevent_st e : events) {
            cudaEventDestroy(e);
        }
        events.clear();
    }
}
