package dev.lattice.trainer.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.lattice.trainer.cli.TrainFixtures.baseArgs;
import static dev.lattice.trainer.cli.TrainFixtures.losses;
import static dev.lattice.trainer.cli.TrainFixtures.train;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainCommandTest {

    @TempDir
    Path tmp;

    private List<String> args(String model, String save, String... more) throws IOException {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = Files.exists(tmp.resolve("data/corpus_text_document.idx"))
                ? tmp.resolve("data/corpus_text_document").toString()
                : TrainFixtures.corpus(tmp.resolve("data"), tok, 300, 1);
        List<String> a = new ArrayList<>(baseArgs(model, tok, data));
        if (save != null) {
            a.addAll(List.of("--save", save));
        }
        a.addAll(List.of(more));
        return a;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void trainingOnTextLowersTheLossAndWritesMetricsAndPlot(String model) throws IOException {
        Path save = tmp.resolve("run-" + model);
        TrainFixtures.Run run = train(args(model, save.toString(), "--train-iters", "60"));
        assertEquals(0, run.code(), run.err() + run.out());
        List<Double> l = losses(save);
        assertEquals(60, l.size());
        double first = (l.get(0) + l.get(1) + l.get(2)) / 3;
        double last = (l.get(57) + l.get(58) + l.get(59)) / 3;
        assertTrue(last < first - 1.0, "loss should fall well below its start: " + first + " -> " + last);
        assertTrue(run.out().matches("(?s).* \\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6}] iteration"
                + " +60/ +60 \\| consumed samples: +240 \\| elapsed time per iteration \\(ms\\): [0-9.]+ \\|.*"
                + "learning rate: [0-9.]+E[-+]\\d+ \\| global batch size: +4 \\| lm loss: [0-9.]+E[-+]\\d+ \\|"
                + " loss scale: 1.0 \\| grad norm: [0-9.]+ \\| number of skipped iterations: +0 \\|"
                + " number of nan iterations: +0 \\|.*"), run.out());
        assertTrue(run.out().contains("validation loss at iteration 10"), run.out());
        String firstMetric = Files.readAllLines(save.resolve("metrics.jsonl")).get(0);
        for (String key : List.of("iteration", "lm_loss", "learning_rate", "grad_norm", "consumed_samples",
                "tokens_per_sec", "tflops_per_gpu", "skipped", "nan")) {
            assertTrue(firstMetric.contains("\"" + key + "\""), key + " in " + firstMetric);
        }
        byte[] png = Files.readAllBytes(save.resolve("loss.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
        assertEquals("60", Files.readString(save.resolve("latest_checkpointed_iteration.txt")));
    }

    /** Real text: this project's own Java sources, GPT-2 BPE, a 2-layer model; the loss must fall well below ln V. */
    @Test
    void trainingOnRealTextWithGpt2TokensLowersTheLoss() throws IOException {
        dev.lattice.data.tokenizer.TextTokenizer gpt2 = dev.lattice.data.tokenizer.Tokenizers.load("gpt2");
        String prefix = tmp.resolve("src/corpus_text_document").toString();
        try (var out = dev.lattice.data.indexed.IndexedDatasetOutput.create(
                dev.lattice.data.storage.LocalStorage.INSTANCE, prefix, dev.lattice.data.indexed.TokenDType.UINT16,
                gpt2.vocabSize(), false);
             var files = Files.walk(Path.of("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                out.writer().addDocument(gpt2.encodeDocument(Files.readString(f), true));
            }
            out.commit();
        }
        Path save = tmp.resolve("real");
        TrainFixtures.Run run = train(List.of("--model", "gpt2", "--num-layers", "2", "--hidden-size", "64",
                "--num-attention-heads", "4", "--seq-length", "32", "--micro-batch-size", "4",
                "--global-batch-size", "8", "--train-iters", "60", "--lr", "3e-3", "--lr-warmup-iters", "5",
                "--lr-decay-style", "cosine", "--min-lr", "3e-4", "--data-path", prefix, "--split", "95,5,0",
                "--log-interval", "1", "--eval-interval", "60", "--eval-iters", "2", "--save", save.toString()));
        assertEquals(0, run.code(), run.err());
        List<Double> l = losses(save);
        assertTrue(l.get(0) > 10.0, "starts near ln(50257) = 10.8: " + l.get(0));
        double last = (l.get(57) + l.get(58) + l.get(59)) / 3;
        assertTrue(last < 7.0, "learns the statistics of Java source: " + last);
    }

    @Test
    void initialisesFromAHuggingFaceModel() throws Exception {
        Path hf = Path.of(getClass().getResource("/dev/lattice/trainer/hf/fixtures/gpt2").toURI());
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = TrainFixtures.corpus(tmp.resolve("data"), tok, 100, 3);
        TrainFixtures.Run run = train(List.of("--init-from-hf", hf.toString(), "--tokenizer", tok.toString(),
                "--data-path", data, "--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "2",
                "--train-iters", "3", "--lr", "1e-3", "--log-interval", "1", "--eval-iters", "0"));
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("initialised from HuggingFace model"), run.out());
        assertTrue(run.out().contains("GPT2 model: ") && run.out().contains("hidden 32"), run.out());
    }

    @Test
    void sameSeedGivesBitIdenticalLosses() throws IOException {
        train(args("gpt2", tmp.resolve("a").toString(), "--train-iters", "8"));
        train(args("gpt2", tmp.resolve("b").toString(), "--train-iters", "8"));
        assertEquals(losses(tmp.resolve("a")), losses(tmp.resolve("b")));
        // Megatron's --deterministic-mode is accepted; the CPU backend repeats with or without it
        train(args("gpt2", tmp.resolve("c").toString(), "--train-iters", "8", "--deterministic-mode"));
        assertEquals(losses(tmp.resolve("a")), losses(tmp.resolve("c")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void resumeReproducesTheUninterruptedRunBitForBit(String model) throws IOException {
        Path whole = tmp.resolve("whole");
        TrainFixtures.Run a = train(args(model, whole.toString(), "--train-iters", "12", "--save-interval", "6"));
        assertEquals(0, a.code(), a.err());
        Path part = tmp.resolve("part");
        TrainFixtures.Run b = train(args(model, part.toString(), "--train-iters", "12", "--exit-interval", "6"));
        assertEquals(0, b.code(), b.err());
        TrainFixtures.Run c = train(args(model, part.toString(), "--train-iters", "12", "--load", part.toString()));
        assertEquals(0, c.code(), c.err());
        assertTrue(c.out().contains("loaded checkpoint"), c.out());
        assertEquals(losses(whole), losses(part), "losses 1-6 then 7-12 after the resume");
        Path w = whole.resolve("iter_0000012/mp_rank_00/model.safetensors");
        Path p = part.resolve("iter_0000012/mp_rank_00/model.safetensors");
        assertArrayEquals(Files.readAllBytes(w), Files.readAllBytes(p), "final weights are identical");
        assertArrayEquals(Files.readAllBytes(whole.resolve("iter_0000012/mp_rank_00/optimizer.safetensors")),
                Files.readAllBytes(part.resolve("iter_0000012/mp_rank_00/optimizer.safetensors")));
    }

    @Test
    void badConfigurationsNameTheFlag() throws IOException {
        TrainFixtures.Run gbs = train(args("gpt2", null, "--train-iters", "1", "--global-batch-size", "5"));
        assertEquals(2, gbs.code());
        assertTrue(gbs.err().contains("--global-batch-size 5"), gbs.err());
        TrainFixtures.Run seq = train(args("gpt2", null, "--train-iters", "1", "--max-position-embeddings", "8"));
        assertEquals(2, seq.code());
        assertTrue(seq.err().contains("--seq-length 16 exceeds --max-position-embeddings 8"), seq.err());
        TrainFixtures.Run heads = train(args("gpt2", null, "--train-iters", "1", "--num-attention-heads", "5"));
        assertEquals(2, heads.code());
        assertTrue(heads.err().contains("--num-attention-heads 5 does not divide --hidden-size 32"), heads.err());
        TrainFixtures.Run groups = train(args("llama", null, "--train-iters", "1", "--num-query-groups", "3"));
        assertEquals(2, groups.code());
        assertTrue(groups.err().contains("--num-query-groups 3"), groups.err());
    }

    @Test
    void tokenIdsBeyondTheVocabularyNameDatasetAndId() throws IOException {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = TrainFixtures.corpus(tmp.resolve("data"), tok, 50, 1);
        // Train with a smaller vocabulary than the data was made with: GPT-2's is larger, so use a 3-word tokenizer.
        Path small = tmp.resolve("small/tokenizer.json");
        Files.createDirectories(small.getParent());
        Files.writeString(small, Files.readString(tok).replaceAll("\"vocab\": \\{.*}, \"unk_token\"",
                "\"vocab\": {\"[UNK]\": 0, \"</s>\": 1, \".\": 2}, \"unk_token\""));
        List<String> a = new ArrayList<>(baseArgs("gpt2", small, data));
        a.addAll(List.of("--train-iters", "1"));
        TrainFixtures.Run run = train(a);
        assertEquals(2, run.code(), run.out());
        assertTrue(run.err().contains(data) && run.err().contains("outside the vocabulary [0, 3)"), run.err());
    }

    @Test
    void loadingAMismatchedOrDamagedCheckpointNamesTheProblem() throws IOException {
        Path save = tmp.resolve("ck");
        TrainFixtures.Run first = train(args("gpt2", save.toString(), "--train-iters", "2"));
        assertEquals(0, first.code(), first.err());
        TrainFixtures.Run shape = train(args("gpt2", null, "--train-iters", "4", "--load", save.toString(),
                "--hidden-size", "16"));
        assertEquals(1, shape.code());
        assertTrue(shape.err().contains("differs from the configured model"), shape.err());
        Files.delete(save.resolve("iter_0000002/mp_rank_00/optimizer.safetensors"));
        TrainFixtures.Run missing = train(args("gpt2", null, "--train-iters", "4", "--load", save.toString()));
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("optimizer.safetensors: missing"), missing.err());
        Files.writeString(save.resolve("iter_0000002/mp_rank_00/model.safetensors"), "garbage");
        TrainFixtures.Run corrupt = train(args("gpt2", null, "--train-iters", "4", "--load", save.toString()));
        assertEquals(1, corrupt.code());
        assertTrue(corrupt.err().contains("model.safetensors"), corrupt.err());
    }

    @Test
    void nonFiniteIterationsAreSkippedCountedAndAbortTheRun() throws IOException {
        Path save = tmp.resolve("nan");
        TrainFixtures.Run run = train(args("gpt2", save.toString(), "--train-iters", "20", "--lr", "1e30",
                "--clip-grad", "0", "--max-nan-iters", "3"));
        assertEquals(2, run.code(), run.out());
        assertTrue(run.err().contains("aborting: 3 iterations in a row had a non-finite loss or gradient"),
                run.err());
        assertTrue(run.out().contains("number of nan iterations:   1"), run.out());
        String metrics = Files.readString(save.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"nan\":1"), metrics);
    }

    @Test
    void scoreGenerateAndExportWorkOnTheTrainedModel() throws IOException {
        Path save = tmp.resolve("model");
        assertEquals(0, train(args("gpt2", save.toString(), "--train-iters", "150", "--eval-interval", "1000")).code());
        Path tok = tmp.resolve("tok/tokenizer.json");
        Path input = tmp.resolve("score.jsonl");
        Files.write(input, List.of("{\"text\": \"the cat sees the ball today .\"}", "",
                "{\"input_ids\": [3, 4, 5, 6, 7]}"));
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int code = ScoreCommand.execute(new String[] {"--checkpoint", save.toString(), "--input", input.toString(),
                "--tokenizer", tok.toString()}, new java.io.PrintStream(out, true), new java.io.PrintStream(err, true));
        assertEquals(0, code, err.toString());
        var json = com.google.gson.JsonParser.parseString(out.toString()).getAsJsonObject();
        assertEquals(2, json.get("sequences").getAsInt());
        assertEquals(7 - 1 + 5 - 1, json.get("tokens").getAsInt(), "every token after the first is predicted");
        double loss = json.get("loss").getAsDouble();
        assertEquals(Math.exp(loss), json.get("perplexity").getAsDouble(), 1e-9);

        Path hf = tmp.resolve("hf");
        out.reset();
        code = ExportHfCommand.execute(new String[] {"--checkpoint", save.toString(), "--output", hf.toString()},
                new java.io.PrintStream(out, true), new java.io.PrintStream(err, true));
        assertEquals(0, code, err.toString());
        assertTrue(Files.exists(hf.resolve("config.json")) && Files.exists(hf.resolve("model.safetensors")));
        out.reset();
        code = ScoreCommand.execute(new String[] {"--checkpoint", hf.toString(), "--input", input.toString(),
                "--tokenizer", tok.toString()}, new java.io.PrintStream(out, true), new java.io.PrintStream(err, true));
        assertEquals(0, code, err.toString());
        double hfLoss = com.google.gson.JsonParser.parseString(out.toString()).getAsJsonObject().get("loss")
                .getAsDouble();
        assertEquals(loss, hfLoss, 1e-6, "the exported HF model scores like the checkpoint");

        // 16 positions: 17 tokens make 16 predictions (as the Spark scorer counts them); 18 tokens are too many
        Path edge = tmp.resolve("edge.jsonl");
        String seventeen = java.util.stream.IntStream.range(0, 17).mapToObj(i -> Integer.toString(3 + i % 5))
                .collect(java.util.stream.Collectors.joining(", "));
        Files.write(edge, List.of("{\"input_ids\": [" + seventeen + "]}"));
        out.reset();
        assertEquals(0, ScoreCommand.execute(new String[] {"--checkpoint", save.toString(), "--input",
                edge.toString()}, new java.io.PrintStream(out, true), new java.io.PrintStream(err, true)),
                err.toString());
        assertEquals(16, com.google.gson.JsonParser.parseString(out.toString()).getAsJsonObject().get("tokens")
                .getAsInt());
        Files.write(edge, List.of("{\"input_ids\": [" + seventeen + ", 3]}"));
        err.reset();
        assertEquals(2, ScoreCommand.execute(new String[] {"--checkpoint", save.toString(), "--input",
                edge.toString()}, new java.io.PrintStream(out, true), new java.io.PrintStream(err, true)));
        assertTrue(err.toString().contains("line 1: 18 tokens need 17 positions; the model has 16"), err.toString());

        String[] gen = {"--checkpoint", save.toString(), "--prompt", "the cat", "--max-new-tokens", "6",
                "--temperature", "0", "--tokenizer", tok.toString()};
        out.reset();
        assertEquals(0, GenerateCommand.execute(gen, new java.io.PrintStream(out, true),
                new java.io.PrintStream(err, true)), err.toString());
        String first = out.toString().trim();
        out.reset();
        GenerateCommand.execute(gen, new java.io.PrintStream(out, true), new java.io.PrintStream(err, true));
        assertEquals(first, out.toString().trim(), "greedy decoding is deterministic");
        assertTrue(first.startsWith("the cat") && first.split(" ").length == 8, first);
        assertTrue(first.startsWith("the cat sees"), "the trained model learned the subject-verb pairing: " + first);
    }

    @Test
    void unwritableSaveFailsBeforeTraining() throws IOException {
        Path file = tmp.resolve("not-a-dir");
        Files.writeString(file, "x");
        TrainFixtures.Run run = train(args("gpt2", file.resolve("sub").toString(), "--train-iters", "2"));
        assertEquals(1, run.code());
        assertTrue(run.err().contains("is not writable"), run.err());
        assertTrue(!run.out().contains("iteration"), "no training happened: " + run.out());
    }

    @Test
    void deepSpeedConfigSetsBatchAndOptimizer() throws IOException {
        Path cfg = tmp.resolve("ds.json");
        Files.writeString(cfg, "{\"train_batch_size\": 8, \"train_micro_batch_size_per_gpu\": 2,"
                + " \"gradient_accumulation_steps\": 4, \"gradient_clipping\": 0.5,"
                + " \"optimizer\": {\"type\": \"AdamW\", \"params\": {\"lr\": 0.002, \"betas\": [0.9, 0.95],"
                + " \"eps\": 1e-8, \"weight_decay\": 0.1}}, \"bf16\": {\"enabled\": true},"
                + " \"zero_optimization\": {\"stage\": 1}}");
        List<String> a = args("gpt2", tmp.resolve("ds").toString(), "--train-iters", "2", "--config",
                cfg.toString());
        for (String flag : List.of("--global-batch-size", "--lr", "--min-lr")) {
            int i = a.indexOf(flag);
            a.remove(i + 1);
            a.remove(i);
        }
        TrainFixtures.Run run = train(a);
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("global batch size:     8"), run.out());
        assertTrue(run.out().contains("bf16 requested"), run.out());
    }

    /**
     * DeepSpeed's fp16 block turns on --fp16 with its scaler settings (loss_scale 0 = dynamic, 2^initial_scale_power),
     * communication_data_type bf16 is --grad-reduce-in-bf16 and zero_optimization.overlap_comm --overlap-grad-reduce;
     * an unsupported communication type names the key.
     */
    @Test
    void deepSpeedFp16CommunicationTypeAndOverlapBecomeFlags() throws IOException {
        Path cfg = tmp.resolve("ds16.json");
        Files.writeString(cfg, "{\"fp16\": {\"enabled\": true, \"loss_scale\": 0, \"initial_scale_power\": 12,"
                + " \"loss_scale_window\": 500, \"hysteresis\": 3, \"min_loss_scale\": 2},"
                + " \"communication_data_type\": \"bf16\", \"zero_optimization\": {\"stage\": 2}}");
        TrainOptions o = new TrainOptions();
        new picocli.CommandLine(o).parseArgs("--config", cfg.toString(), "--world-size", "2", "--train-iters", "1",
                "--global-batch-size", "2");
        TrainCommand.Settled settled = TrainCommand.configAndLayout(o, java.util.Set.of("--config", "--world-size"),
                new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        assertEquals(2, settled.zero());
        assertTrue(o.fp16 && !o.bf16);
        assertEquals(null, o.lossScale);
        assertEquals(4096.0, o.initialLossScale);
        assertEquals(500, o.lossScaleWindow);
        assertEquals(3, o.hysteresis);
        assertEquals(2.0, o.minLossScale);
        assertTrue(o.gradReduceInBf16);
        assertTrue(!o.overlapGradReduce);

        Files.writeString(cfg, "{\"bf16\": {\"enabled\": true}, \"zero_optimization\": {\"stage\": 1,"
                + " \"overlap_comm\": true}}");
        TrainOptions overlap = new TrainOptions();
        new picocli.CommandLine(overlap).parseArgs("--config", cfg.toString(), "--world-size", "2", "--train-iters", "1",
                "--global-batch-size", "2");
        TrainCommand.configAndLayout(overlap, java.util.Set.of("--config", "--world-size"),
                new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        assertTrue(overlap.overlapGradReduce && overlap.bf16 && !overlap.gradReduceInBf16);

        Files.writeString(cfg, "{\"communication_data_type\": \"fp16\"}");
        TrainOptions bad = new TrainOptions();
        new picocli.CommandLine(bad).parseArgs("--config", cfg.toString(), "--train-iters", "1");
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TrainCommand.configAndLayout(bad, java.util.Set.of("--config"),
                        new java.io.PrintStream(java.io.OutputStream.nullOutputStream())));
        assertTrue(e.getMessage().contains("communication_data_type fp16 is not supported"), e.getMessage());
    }

    /**
     * --mock-data (Megatron's): random token ids, no dataset; the same samples every run and at any layout, so a
     * DP2 run reproduces the single-rank curve; it excludes --data-path.
     */
    @Test
    void mockDataTrainsWithoutADataset() throws IOException {
        List<String> flags = new java.util.ArrayList<>(List.of("--mock-data", "--vocab-size", "97", "--num-layers",
                "2", "--hidden-size", "32", "--num-attention-heads", "4", "--seq-length", "16",
                "--micro-batch-size", "2", "--global-batch-size", "4", "--train-iters", "6", "--lr", "1e-3",
                "--log-interval", "1", "--eval-interval", "3", "--eval-iters", "1"));
        List<String> one = new java.util.ArrayList<>(flags);
        one.addAll(List.of("--save", tmp.resolve("m1").toString()));
        TrainFixtures.Run a = train(one);
        assertEquals(0, a.code(), a.err());
        assertTrue(a.out().contains("validation loss at iteration 3"), a.out());
        List<String> two = new java.util.ArrayList<>(flags);
        two.addAll(List.of("--save", tmp.resolve("m2").toString(), "--world-size", "2"));
        TrainFixtures.Run b = train(two);
        assertEquals(0, b.code(), b.err());
        List<Double> la = TrainFixtures.losses(tmp.resolve("m1"));
        List<Double> lb = TrainFixtures.losses(tmp.resolve("m2"));
        assertEquals(6, la.size());
        for (int i = 0; i < la.size(); i++) {
            assertEquals(la.get(i), lb.get(i), 1e-5 * la.get(i), "iteration " + (i + 1));
            // random tokens: the loss stays near ln(97)
            assertEquals(Math.log(97), la.get(i), 0.5, "iteration " + (i + 1));
        }
        List<String> both = new java.util.ArrayList<>(flags);
        both.addAll(List.of("--data-path", "x"));
        TrainFixtures.Run c = train(both);
        assertEquals(2, c.code());
        assertTrue(c.err().contains("--mock-data and --data-path exclude each other"), c.err());
    }
}
