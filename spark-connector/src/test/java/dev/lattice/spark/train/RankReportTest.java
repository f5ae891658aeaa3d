package dev.lattice.spark.train;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RankReportTest {

    private static RankReport report(int rank, String host, String build, String... args) {
        return new RankReport(rank, host, "cpu", build, List.of(args));
    }

    @Test
    void encodesAndDecodesArgumentsWithSpacesAndSeparators() {
        RankReport r = new RankReport(3, "host-b", "cuda:1", "0.1.0", List.of("--data-path", "0.5 a|b", "", "--x"));
        assertEquals(r, RankReport.decode(r.encode()));
        assertEquals("3|host-b|cuda:1", r.placement());
    }

    @Test
    void agreeingRanksHaveNoDifference() {
        assertNull(report(0, "a", "dev", "--hidden-size", "64").differenceFrom(report(1, "b", "dev", "--hidden-size",
                "64")));
    }

    @Test
    void namesTheDifferingFlagAndBothValues() {
        RankReport zero = report(0, "a", "dev", "--num-layers", "2", "--hidden-size", "64", "--lr", "1e-3");
        RankReport one = report(1, "b", "dev", "--num-layers", "2", "--hidden-size", "32", "--lr", "1e-3");
        assertEquals("rank 1 on b differs from rank 0 on a: --hidden-size 32 vs 64", zero.differenceFrom(one));
    }

    @Test
    void namesAMissingArgumentAndADifferentBuild() {
        RankReport zero = report(0, "a", "dev", "--num-layers", "2", "--bf16");
        assertEquals("rank 2 on c differs from rank 0 on a: argument 3 (missing) vs --bf16",
                zero.differenceFrom(report(2, "c", "dev", "--num-layers", "2")));
        assertEquals("rank 1 on b differs from rank 0 on a: Lattice build 0.2.0 vs dev",
                zero.differenceFrom(report(1, "b", "0.2.0", "--num-layers", "2", "--bf16")));
    }

    @Test
    void aMalformedReportIsAClearError() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> RankReport.decode("0|a|cpu|123"));
        assertEquals(true, e.getMessage().contains("malformed rendezvous report"));
    }

    @Test
    void aProblemTravelsWithTheReportAndFailsEveryRankNamingTheHost() {
        RankReport sick = new RankReport(1, "gpu-node-7", "cpu", "dev", List.of("--devices", "cuda"),
                "--devices cuda, but this executor cannot use CUDA: no CUDA device");
        RankReport back = RankReport.decode(sick.encode());
        assertEquals(sick, back);
        RankReport fine = report(0, "gpu-node-1", "dev", "--devices", "cuda");
        assertEquals("", RankReport.decode(fine.encode()).problem());
        RankReport.checkProblems(new RankReport[]{fine});
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> RankReport.checkProblems(new RankReport[]{fine, back}));
        assertEquals("rank 1 on gpu-node-7 cannot train: --devices cuda, but this executor cannot use CUDA:"
                + " no CUDA device", e.getMessage());
    }
}
