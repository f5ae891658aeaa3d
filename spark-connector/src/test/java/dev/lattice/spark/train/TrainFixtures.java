package dev.lattice.spark.train;

import dev.lattice.data.indexed.IndexedDatasetOutput;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.storage.LocalStorage;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.Tokenizers;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A small corpus, the training arguments and the loss reader shared by the barrier-training tests. */
final class TrainFixtures {

    private TrainFixtures() {
    }

    static String corpus(Path tmp) throws IOException {
        TextTokenizer gpt2 = Tokenizers.load("gpt2");
        String prefix = tmp.resolve("data/corpus_text_document").toString();
        Random r = new Random(3);
        String[] words = {"spark", "barrier", "stage", "rank", "tensor", "pipeline", "data", "parallel", "loss"};
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix,
                TokenDType.UINT16, gpt2.vocabSize(), false)) {
            for (int d = 0; d < 120; d++) {
                StringBuilder b = new StringBuilder();
                for (int w = 0; w < 40; w++) {
                    b.append(words[r.nextInt(words.length)]).append(w % 7 == 6 ? ". " : " ");
                }
                out.writer().addDocument(gpt2.encodeDocument(b.toString(), true));
            }
            out.commit();
        }
        return prefix;
    }

    static List<String> args(String data, Path save, String... more) {
        List<String> a = new ArrayList<>(List.of("--model", "gpt2", "--num-layers", "2", "--hidden-size", "32",
                "--num-attention-heads", "4", "--seq-length", "16", "--micro-batch-size", "2",
                "--global-batch-size", "4", "--train-iters", "12", "--lr", "3e-3", "--lr-warmup-iters", "1",
                "--data-path", data, "--split", "100,0,0", "--log-interval", "1", "--eval-iters", "0",
                "--save", save.toString(), "--distributed-timeout-minutes", "1"));
        a.addAll(List.of(more));
        return a;
    }

    static List<Double> losses(Path save) throws IOException {
        return dev.lattice.trainer.engine.MetricsLog.trainingLosses(save);
    }

    static PrintStream sink(ByteArrayOutputStream b) {
        return new PrintStream(b, true, StandardCharsets.UTF_8);
    }
}
