package dev.lattice.trainer.bench;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Time per backend operation: a {@link Backend} that synchronises before and after every call of the one it wraps
 * and adds the wall time to the call's name (GEMMs also by shape). Synchronising serialises the GPU, so the total is
 * somewhat above an unprofiled step; the shares say where the time goes.
 */
public final class OpProfile {

    private final Map<String, double[]> byOp = new HashMap<>(); // {calls, seconds}
    private boolean on;

    /** A backend that times every call of {@code inner} while {@link #start()}ed. */
    public Backend wrap(Backend inner) {
        return BackendCalls.wrap(inner, (method, args, call) -> {
            if (!on || method.getName().equals("synchronize") || method.getName().equals("name")) {
                return call.proceed();
            }
            inner.synchronize();
            long t0 = System.nanoTime();
            Object r = call.proceed();
            inner.synchronize();
            double s = (System.nanoTime() - t0) / 1e9;
            String key = method.getName();
            if (key.startsWith("matmul")) {
                int i = args[0] instanceof Tensor ? 5 : 0;
                key += " " + args[i] + "x" + args[i + 1] + "x" + args[i + 2] + (args[2] == Boolean.TRUE
                        ? " Aᵀ" : "") + (args[4] == Boolean.TRUE ? " Bᵀ" : "");
            }
            double[] acc = byOp.computeIfAbsent(key, k -> new double[2]);
            acc[0]++;
            acc[1] += s;
            return r;
        });
    }

    public void start() {
        on = true;
    }

    public void stop() {
        on = false;
    }

    /** The table, largest first, per step over {@code steps} profiled steps. */
    public String render(int steps) {
        List<Map.Entry<String, double[]>> rows = new ArrayList<>(byOp.entrySet());
        rows.sort((a, b) -> Double.compare(b.getValue()[1], a.getValue()[1]));
        double total = rows.stream().mapToDouble(e -> e.getValue()[1]).sum();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                "profile: %.1f ms per step in backend calls (synchronised)%n", 1e3 * total / steps));
        for (var e : rows) {
            b.append(String.format(Locale.ROOT, "  %8.2f ms %5.1f%%  %5.0f calls  %s%n", 1e3 * e.getValue()[1] / steps,
                    100 * e.getValue()[1] / total, e.getValue()[0] / steps, e.getKey()));
        }
        return b.toString();
    }
}
