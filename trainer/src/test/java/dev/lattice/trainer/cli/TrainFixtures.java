package dev.lattice.trainer.cli;

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

/** A small word-level tokenizer and a corpus of simple sentences: real text structure at a tiny vocabulary. */
final class TrainFixtures {

    static final String[] SUBJECTS = {"the cat", "a dog", "my friend", "the teacher", "our neighbour", "the child"};
    static final String[] VERBS = {"sees", "likes", "finds", "paints", "follows", "calls"};
    static final String[] OBJECTS = {"the ball", "a bird", "the house", "a tree", "the river", "a song"};
    static final String[] ENDINGS = {"today", "again", "at night", "in the park", "with joy", "slowly"};

    private TrainFixtures() {
    }

    /** Writes tokenizer.json for the fixture's words; returns its path. */
    static Path tokenizer(Path dir) throws IOException {
        List<String> words = new ArrayList<>(List.of("[UNK]", "</s>", "."));
        for (String[] group : new String[][] {SUBJECTS, VERBS, OBJECTS, ENDINGS}) {
            for (String phrase : group) {
                for (String w : phrase.split(" ")) {
                    if (!words.contains(w)) {
                        words.add(w);
                    }
                }
            }
        }
        StringBuilder vocab = new StringBuilder();
        for (int i = 0; i < words.size(); i++) {
            vocab.append(i == 0 ? "" : ", ").append('"').append(words.get(i)).append("\": ").append(i);
        }
        String json = "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": ["
                + "{\"id\": 0, \"content\": \"[UNK]\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
                + " \"normalized\": false, \"special\": true},"
                + "{\"id\": 1, \"content\": \"</s>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
                + " \"normalized\": false, \"special\": true}],"
                + " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"post_processor\": null,"
                + " \"decoder\": null, \"model\": {\"type\": \"WordLevel\", \"vocab\": {" + vocab
                + "}, \"unk_token\": \"[UNK]\"}}";
        Path file = dir.resolve("tokenizer.json");
        Files.createDirectories(dir);
        Files.writeString(file, json);
        return file;
    }

    /** An indexed dataset of {@code documents} documents of a few sentences each, with EOD; returns its prefix. */
    static String corpus(Path dir, Path tokenizerJson, int documents, long seed) throws IOException {
        return corpus(dir, Tokenizers.load(tokenizerJson.toString()), documents, seed);
    }

    /** The same corpus through any tokenizer (the GPU tests use GPT-2's, which needs no native library). */
    static String corpus(Path dir, TextTokenizer tok, int documents, long seed) throws IOException {
        Random r = new Random(seed);
        String prefix = dir.resolve("corpus_text_document").toString();
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix,
                TokenDType.optimalFor(tok.vocabSize()), tok.vocabSize(), true)) {
            for (int d = 0; d < documents; d++) {
                StringBuilder text = new StringBuilder();
                int sentences = 2 + r.nextInt(4);
                for (int s = 0; s < sentences; s++) {
                    // Grammar with dependencies: the verb depends on the subject, the ending on the object.
                    int subj = r.nextInt(SUBJECTS.length);
                    int obj = r.nextInt(OBJECTS.length);
                    text.append(SUBJECTS[subj]).append(' ').append(VERBS[subj]).append(' ').append(OBJECTS[obj])
                            .append(' ').append(ENDINGS[obj]).append(" . ");
                }
                out.writer().addDocument(tok.encodeDocument(text.toString(), true));
            }
            out.commit();
        }
        return prefix;
    }

    /** Small-model flags shared by the tests. */
    static List<String> baseArgs(String model, Path tokenizerJson, String data) {
        return baseArgs(model, tokenizerJson.toString(), data);
    }

    /** Small-model flags with the tokenizer given by name or path. */
    static List<String> baseArgs(String model, String tokenizer, String data) {
        List<String> a = new ArrayList<>(List.of("--model", model, "--num-layers", "2", "--hidden-size", "32",
                "--num-attention-heads", "4", "--seq-length", "16", "--micro-batch-size", "2",
                "--global-batch-size", "4", "--lr", "3e-3", "--min-lr", "3e-4", "--lr-decay-style", "cosine",
                "--lr-warmup-iters", "1", "--weight-decay", "0.01", "--clip-grad", "1.0",
                "--tokenizer", tokenizer, "--data-path", data, "--split", "90,10,0",
                "--log-interval", "1", "--eval-interval", "10", "--eval-iters", "2", "--seed", "42",
                "--make-vocab-size-divisible-by", "8"));
        if (model.equals("llama")) {
            a.addAll(List.of("--num-query-groups", "2", "--ffn-hidden-size", "48"));
        }
        return a;
    }

    record Run(int code, String out, String err) {
    }

    static Run train(List<String> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TrainCommand.execute(args.toArray(new String[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** lm_loss of each line of metrics.jsonl that has one, in order. */
    static List<Double> losses(Path save) throws IOException {
        return dev.lattice.trainer.engine.MetricsLog.trainingLosses(save);
    }
}
