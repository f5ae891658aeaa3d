package dev.lattice.spark.preprocess;

import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Prints progress of long preprocessing runs from the driver: one line per finished task at most once a second
 * (and always the last), with tokens and bytes read so far and the running rates.
 */
public final class ProgressReporter extends SparkListener {

    private final PrintStream out;
    private final LongAccumulator tokens;
    private final LongAccumulator bytes;
    private final long startNanos = System.nanoTime();
    private final AtomicInteger done = new AtomicInteger();
    private volatile String phase = "";
    private volatile int total;
    private volatile long lastPrint;

    public ProgressReporter(PrintStream out, LongAccumulator tokens, LongAccumulator bytes) {
        this.out = out;
        this.tokens = tokens;
        this.bytes = bytes;
    }

    /** Starts counting the tasks of the next job. */
    public void phase(String name, int tasks) {
        phase = name;
        total = tasks;
        done.set(0);
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
        int d = done.incrementAndGet();
        long now = System.nanoTime();
        if (d < total && now - lastPrint < 1_000_000_000L) {
            return;
        }
        lastPrint = now;
        double secs = Math.max(1e-9, (now - startNanos) / 1e9);
        out.println(String.format(Locale.ROOT,
                "[preprocess] %-8s %5d/%d tasks | %8.1f MB read | %,13d tokens | %6.2f M tokens/s | %6.1f MB/s",
                phase, Math.min(d, total), total, bytes.value() / 1e6, tokens.value(),
                tokens.value() / secs / 1e6, bytes.value() / secs / 1e6));
    }
}
