package dev.lattice.trainer.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.lattice.trainer.cli.TrainFixtures.losses;
import static dev.lattice.trainer.cli.TrainFixtures.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --fp16}'s loss scaling through the whole trainer on the CPU backend (whose products stay fp32, so scaling is
 * the only thing that changes): a power-of-two scale changes no bit of the run; a scale too large for fp32 makes
 * iterations overflow, which are skipped and back the scale off instead of aborting the run as NaN iterations would.
 */
class LossScalingTest {

    @TempDir
    Path tmp;

    private List<String> args(Path save, String... more) throws IOException {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = Files.exists(tmp.resolve("data/corpus_text_document.idx"))
                ? tmp.resolve("data/corpus_text_document").toString()
                : TrainFixtures.corpus(tmp.resolve("data"), tok, 300, 1);
        List<String> a = new ArrayList<>(TrainFixtures.baseArgs("gpt2", tok, data));
        a.addAll(List.of("--train-iters", "12", "--save", save.toString()));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void aPowerOfTwoScaleChangesNothing() throws Exception {
        TrainFixtures.Run plain = train(args(tmp.resolve("fp32")));
        assertEquals(0, plain.code(), plain.err());
        TrainFixtures.Run scaled = train(args(tmp.resolve("fp16"), "--fp16", "--initial-loss-scale", "1024"));
        assertEquals(0, scaled.code(), scaled.err());
        assertEquals(losses(tmp.resolve("fp32")), losses(tmp.resolve("fp16")));
        assertTrue(scaled.out().contains(" loss scale: 1024.0 |"), scaled.out());
    }

    @Test
    void overflowingIterationsAreSkippedAndTheScaleBacksOff() throws Exception {
        // 2^140 overflows fp32 (max about 2^128): every iteration overflows until the scale has halved enough.
        TrainFixtures.Run r = train(args(tmp.resolve("over"), "--fp16", "--initial-loss-scale", "1.393796574908163946E42",
                "--hysteresis", "1", "--train-iters", "40", "--max-nan-iters", "3"));
        assertEquals(0, r.code(), r.out() + r.err()); // more than 3 overflows in a row, yet not a NaN abort
        Matcher m = Pattern.compile("number of skipped iterations: +(\\d+)").matcher(r.out());
        int skipped = 0;
        while (m.find()) {
            skipped += Integer.parseInt(m.group(1));
        }
        assertTrue(skipped > 3, "skipped " + skipped + "\n" + r.out());
        Matcher scale = Pattern.compile("loss scale: ([0-9.E]+) \\|").matcher(r.out());
        double last = Double.NaN;
        while (scale.find()) {
            last = Double.parseDouble(scale.group(1));
        }
        assertTrue(last <= Math.pow(2, 128), "the scale backed off to what fp32 holds: " + last);
        List<Double> l = losses(tmp.resolve("over"));
        assertTrue(l.size() > 5 && l.get(l.size() - 1) < l.get(0), "trains after backing off: " + l);
    }

    @Test
    void bf16AndFp16ExcludeEachOther() throws Exception {
        TrainFixtures.Run r = train(args(tmp.resolve("both"), "--fp16", "--bf16"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--bf16 and --fp16"), r.err());
    }
}
