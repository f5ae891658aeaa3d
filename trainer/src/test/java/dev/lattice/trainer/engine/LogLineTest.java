package dev.lattice.trainer.engine;

import org.junit.jupiter.api.Test;

import java.time.LocalDateTime;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LogLineTest {

    @Test
    void megatronFieldsInMegatronOrder() {
        String line = LogLine.format(LocalDateTime.of(2026, 11, 26, 3, 4, 5, 123_456_000), 3, 10, 24, 0, 1234.5,
                0.4, 663.6, 3.0e-4, 8, 10.5, 1.0, 1.25, 0, 0);
        assertEquals(" [2026-11-26 03:04:05.123456] iteration        3/      10 | consumed samples:           24 |"
                + " elapsed time per iteration (ms): 1234.5 | throughput per GPU (TFLOP/s/GPU): 0.4 |"
                + " tokens per second: 664 | learning rate: 3.000000E-04 | global batch size:     8 |"
                + " lm loss: 1.050000E+01 | loss scale: 1.0 | grad norm: 1.250 | number of skipped iterations:   0 |"
                + " number of nan iterations:   0 |", line);
    }

    @Test
    void fp16ShowsTheCurrentLossScale() {
        String line = LogLine.format(LocalDateTime.of(2026, 11, 26, 3, 4, 5), 3, 10, 24, 0, 1.0, 0.4, 663.6, 3.0e-4,
                8, 10.5, 65536.0, 1.25, 2, 0);
        org.junit.jupiter.api.Assertions.assertTrue(line.contains(" loss scale: 65536.0 |"), line);
        org.junit.jupiter.api.Assertions.assertTrue(line.contains(" number of skipped iterations:   2 |"), line);
    }

    /** What benchmarks read back from a run's log: the numbers format wrote, at the precision it wrote them. */
    @Test
    void parseReadsBackTheNumbersOfAnIterationLine() {
        String line = LogLine.format(LocalDateTime.of(2026, 11, 26, 3, 4, 5), 17, 24, 544, 32, 178.63, 417.04,
                183518.4, 3.0e-4, 32, 6.2834567, 1.0, 1.25, 0, 0) + LogLine.eta(7, 0.18);
        LogLine.Iteration it = LogLine.parse(line);
        assertEquals(17, it.iteration());
        assertEquals(178.6, it.elapsedMs(), 0);
        assertEquals(417.0, it.tflopsPerGpu(), 0);
        assertEquals(183518, it.tokensPerSecond(), 0);
        assertEquals(6.283457, it.lmLoss(), 0);
        LogLine.Iteration noLoss = LogLine.parse(LogLine.format(LocalDateTime.of(2026, 11, 26, 3, 4, 5), 2, 24, 64,
                0, 1.0, 0.0, 10, 3.0e-4, 32, -1, 1.0, Double.NaN, 0, 0));
        org.junit.jupiter.api.Assertions.assertTrue(Double.isNaN(noLoss.lmLoss()), noLoss.toString());
        org.junit.jupiter.api.Assertions.assertNull(LogLine.parse(" > memory of rank 3 (plan): total 54.44 MB"));
        // a diverged run: the loss is Infinity or NaN, and so may tokens/s be; the line still counts
        LogLine.Iteration inf = LogLine.parse(LogLine.format(LocalDateTime.of(2026, 11, 26, 3, 4, 5), 3, 24, 96, 0,
                1.0, 0.0, Double.NaN, 3.0e-4, 32, Double.POSITIVE_INFINITY, 1.0, 1.25, 0, 0));
        assertEquals(Double.POSITIVE_INFINITY, inf.lmLoss());
        org.junit.jupiter.api.Assertions.assertTrue(Double.isNaN(inf.tokensPerSecond()), inf.toString());
    }

    @Test
    void etaIsRemainingIterationsTimesSecondsPerIteration() {
        assertEquals(" ETA: 1:02:05 |", LogLine.eta(10, 372.5));
        assertEquals(" ETA: 0:00:00 |", LogLine.eta(0, 5.0));
        assertEquals(" ETA: 27:46:40 |", LogLine.eta(100_000, 1.0));
    }
}
