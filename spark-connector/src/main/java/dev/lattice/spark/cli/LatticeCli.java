package dev.lattice.spark.cli;

import dev.lattice.spark.preprocess.PreprocessJob;
import dev.lattice.trainer.cli.ExportHfCommand;
import dev.lattice.trainer.cli.GenerateCommand;
import dev.lattice.trainer.cli.ScoreCommand;
import dev.lattice.trainer.cli.TrainCommand;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code bin/lattice <command>}: dispatches to each command's main class. */
public final class LatticeCli {

    private static final Map<String, String> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("demo", "the whole product on the JDK sources: preprocess, train TP2xDP2 on 4 CPU ranks in"
                + " Spark, score, generate");
        COMMANDS.put("preprocess", "tokenize text into Parquet shards and Megatron indexed datasets (Spark job; "
                + "spark-submit class " + PreprocessJob.class.getName() + ")");
        COMMANDS.put("train", "train a GPT-2 or Llama model (Megatron flags); ranks as threads, or with --spark MASTER"
                + " as a Spark barrier stage (spark-submit class dev.lattice.spark.train.TrainJob)");
        COMMANDS.put("plan", "per-rank memory of a model and parallel layout, before anything runs");
        COMMANDS.put("score", "loss and perplexity of a checkpoint or HuggingFace model on JSONL input");
        COMMANDS.put("generate", "continue a prompt with a checkpoint or HuggingFace model");
        COMMANDS.put("export-hf", "write a checkpoint as a HuggingFace model directory");
        COMMANDS.put("bench", "the standard GPU workloads (GPT-2 124M/350M on one GPU, DP over all) and their table;"
                + " --layouts: every TP/PP/DP layout of the GPUs with loss curves and memory; with flags, one workload");
        COMMANDS.put("bench-cpu", "benchmark CPU training steps and GEMM [layers hidden heads seq mbs iters]");
    }

    private LatticeCli() {
    }

    public static void main(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            printUsage();
            if (args.length == 0) {
                System.exit(2);
            }
            return;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "preprocess" -> PreprocessJob.main(rest);
            case "demo" -> dev.lattice.spark.demo.Demo.main(rest);
            case "train" -> {
                if (java.util.Arrays.asList(rest).contains("--spark")) {
                    dev.lattice.spark.train.TrainJob.main(rest); // ranks as tasks of a Spark barrier stage
                } else {
                    TrainCommand.main(rest);
                }
            }
            case "plan" -> dev.lattice.trainer.cli.PlanCommand.main(rest);
            case "score" -> ScoreCommand.main(rest);
            case "generate" -> GenerateCommand.main(rest);
            case "export-hf" -> ExportHfCommand.main(rest);
            case "bench" -> dev.lattice.trainer.bench.GpuBenchCommand.main(rest);
            case "bench-cpu" -> dev.lattice.trainer.bench.CpuTrainingBenchmark.main(rest);
            default -> {
                System.err.println("lattice: unknown command '" + args[0] + "'");
                printUsage();
                System.exit(2);
            }
        }
    }

    private static void printUsage() {
        System.err.println("usage: lattice <command> [options]   (lattice <command> --help for its options)");
        System.err.println();
        System.err.println("commands:");
        COMMANDS.forEach((name, what) -> System.err.printf("  %-12s %s%n", name, what));
    }
}
