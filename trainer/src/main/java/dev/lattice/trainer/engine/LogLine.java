package dev.lattice.trainer.engine;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** Megatron's per-iteration training log line (megatron-formats.md §5.1), with tokens/s added before the losses. */
public final class LogLine {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS");

    private LogLine() {
    }

    public static String format(LocalDateTime now, long iteration, long trainIters, long consumedSamples,
                                long skippedSamples, double elapsedMsPerIteration, double tflopsPerGpu,
                                double tokensPerSecond, double learningRate, int globalBatch, double lmLoss,
                                double lossScale, double gradNorm, int skippedIterations, int nanIterations) {
        StringBuilder b = new StringBuilder();
        b.append(" [").append(TIME.format(now)).append("]");
        b.append(String.format(Locale.ROOT, " iteration %8d/%8d |", iteration, trainIters));
        b.append(String.format(Locale.ROOT, " consumed samples: %12d |", consumedSamples));
        if (skippedSamples > 0) {
            b.append(String.format(Locale.ROOT, " skipped samples: %12d |", skippedSamples));
        }
        b.append(String.format(Locale.ROOT, " elapsed time per iteration (ms): %.1f |", elapsedMsPerIteration));
        b.append(String.format(Locale.ROOT, " throughput per GPU (TFLOP/s/GPU): %.1f |", tflopsPerGpu));
        b.append(String.format(Locale.ROOT, " tokens per second: %.0f |", tokensPerSecond));
        b.append(String.format(Locale.ROOT, " learning rate: %.6E |", learningRate));
        b.append(String.format(Locale.ROOT, " global batch size: %5d |", globalBatch));
        if (lmLoss >= 0 || Double.isNaN(lmLoss)) {
            b.append(String.format(Locale.ROOT, " lm loss: %.6E |", lmLoss));
        }
        b.append(" loss scale: ").append(lossScale).append(" |");
        if (!Double.isNaN(gradNorm)) {
            b.append(String.format(Locale.ROOT, " grad norm: %.3f |", gradNorm));
        }
        b.append(String.format(Locale.ROOT, " number of skipped iterations: %3d |", skippedIterations));
        b.append(String.format(Locale.ROOT, " number of nan iterations: %3d |", nanIterations));
        return b.toString();
    }

    /** The numbers of one iteration line that benchmarks read back (lm loss NaN where the line has none). */
    public record Iteration(long iteration, double elapsedMs, double tflopsPerGpu, double tokensPerSecond,
                            double lmLoss) {
    }

    // numbers as %f and %E write them, NaN and Infinity included (%E writes NAN and INFINITY)
    private static final String NUMBER = "((?i:nan|[-+]?infinity)|[-+0-9.E]+)";
    private static final java.util.regex.Pattern ITERATION = java.util.regex.Pattern.compile(
            " iteration +(\\d+)/ *\\d+ \\|.*? elapsed time per iteration \\(ms\\): " + NUMBER + " \\|"
                    + " throughput per GPU \\(TFLOP/s/GPU\\): " + NUMBER + " \\| tokens per second: " + NUMBER
                    + " \\|(?:.*? lm loss: " + NUMBER + " \\|)?");

    /** Reads back a line of {@link #format}; null for any other line. */
    public static Iteration parse(String line) {
        java.util.regex.Matcher m = ITERATION.matcher(line);
        if (!m.find()) {
            return null;
        }
        return new Iteration(Long.parseLong(m.group(1)), number(m.group(2)), number(m.group(3)), number(m.group(4)),
                m.group(5) == null ? Double.NaN : number(m.group(5)));
    }

    private static double number(String s) {
        String l = s.toLowerCase(Locale.ROOT);
        if (l.equals("nan")) {
            return Double.NaN;
        }
        if (l.endsWith("infinity")) {
            return l.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        return Double.parseDouble(s);
    }

    /**
     * The estimated time to finish, appended after Megatron's fields (parsers that split on {@code |} keep
     * working): {@code " ETA: 1:02:03 |"} — hours:minutes:seconds of {@code remainingIterations} at {@code secondsPerIteration}.
     */
    public static String eta(long remainingIterations, double secondsPerIteration) {
        long total = Math.round(Math.max(0, remainingIterations) * secondsPerIteration);
        return String.format(Locale.ROOT, " ETA: %d:%02d:%02d |", total / 3600, total / 60 % 60, total % 60);
    }
}
