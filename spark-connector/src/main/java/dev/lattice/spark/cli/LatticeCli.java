package dev.lattice.spark.cli;

import dev.lattice.spark.preprocess.PreprocessJob;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code bin/lattice <command>}: dispatches to each command's main class. */
public final class LatticeCli {

    private static final Map<String, String> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("preprocess", "tokenize text into Parquet shards and Megatron indexed datasets (Spark job; "
                + "spark-submit class " + PreprocessJob.class.getName() + ")");
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
