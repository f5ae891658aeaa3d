package dev.lattice.trainer.model;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The written-out SplitMix64 against the JDK's SplittableRandom: the same values, splits, and normal draws. */
class InitRandomTest {

    @Test
    void theStreamAndItsSplitsAreTheJdks() {
        for (long seed : new long[] {0, 1, 1234, -7, Long.MAX_VALUE}) {
            SplittableRandom jdk = new SplittableRandom(seed);
            InitRandom mine = new InitRandom(seed);
            for (int i = 0; i < 5; i++) {
                assertEquals(jdk.nextLong(), mine.nextLong(), "seed " + seed);
                SplittableRandom jdkChild = jdk.split();
                InitRandom myChild = mine.split();
                for (int j = 0; j < 5; j++) {
                    assertEquals(jdkChild.nextDouble(), myChild.nextDouble(), "seed " + seed + " split " + i);
                }
            }
        }
    }

    /** Block boundaries of the parallel fill included; the stream goes on where drawing in turn would leave it. */
    @Test
    void parallelNormalDrawsEqualDrawingInTurn() {
        for (int n : new int[] {0, 1, 65_535, 65_536, 200_003}) {
            SplittableRandom jdk = new SplittableRandom(99).split();
            float[] expected = new float[n];
            for (int i = 0; i < n; i++) {
                double u1 = 1.0 - jdk.nextDouble();
                double u2 = jdk.nextDouble();
                expected[i] = (float) (Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2) * 0.02);
            }
            InitRandom mine = new InitRandom(99).split();
            float[] v = new float[n];
            mine.fillNormal(v, 0.02);
            assertArrayEquals(expected, v, "n = " + n);
            assertEquals(jdk.nextLong(), mine.nextLong(), "after " + n + " draws");
        }
    }
}
