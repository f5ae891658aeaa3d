package dev.lattice.spark.preprocess;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/** The flags of {@code lattice preprocess}, named as Megatron's {@code tools/preprocess_data.py} names them. */
@Command(name = "preprocess", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Tokenize text (JSONL, plain text, Parquet or a zip of text files; local, hdfs:// or s3a://)",
                "into tokenized Parquet shards and Megatron-compatible indexed datasets,",
                "<output-prefix>_<key>_document.{bin,idx}, with a Spark job."})
public final class PreprocessOptions implements Serializable {

    @Option(names = "--input", split = ",", paramLabel = "PATH",
            description = "Input files, directories or globs (repeatable, comma-separated). 'archive.zip!prefix/'"
                    + " reads the zip's entries under prefix. Default: the JDK's lib/src.zip!java.base/java/.")
    public List<String> input = new ArrayList<>();

    @Option(names = "--input-format", paramLabel = "FMT", defaultValue = "auto",
            description = "auto (by file extension), jsonl, text, parquet or zip. Default: ${DEFAULT-VALUE}.")
    public String inputFormat = "auto";

    @Option(names = "--json-keys", arity = "1..*", paramLabel = "KEY",
            description = "Keys (JSONL) or columns (Parquet) holding the text; one dataset per key."
                    + " Default: text.")
    public List<String> jsonKeys = new ArrayList<>(List.of("text"));

    @Option(names = "--text-document", paramLabel = "UNIT", defaultValue = "file",
            description = "For plain text: 'file' (a file is a document) or 'line'. Default: ${DEFAULT-VALUE}.")
    public String textDocument = "file";

    @Option(names = {"--tokenizer", "--tokenizer-model"}, paramLabel = "NAME|FILE", defaultValue = "gpt2",
            description = "'gpt2' (GPT-2 BPE) or a HuggingFace tokenizer.json (or its directory)."
                    + " Default: ${DEFAULT-VALUE}.")
    public String tokenizer = "gpt2";

    @Option(names = "--eod-token", paramLabel = "TOKEN",
            description = "The end-of-document token of a tokenizer.json (default: a known one such as </s>).")
    public String eodToken;

    @Option(names = "--append-eod", description = "Append the end-of-document token to every non-empty document.")
    public boolean appendEod;

    @Option(names = "--output-prefix", required = true, paramLabel = "PREFIX",
            description = "Output path prefix (local, hdfs:// or s3a://).")
    public String outputPrefix;

    @Option(names = "--no-parquet-shards", description = "Write only the indexed datasets.")
    public boolean noParquetShards;

    @Option(names = "--row-group-size-mb", paramLabel = "MB", defaultValue = "64",
            description = "Parquet row group size. Default: ${DEFAULT-VALUE}.")
    public int rowGroupSizeMb = 64;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "0",
            description = "Parallelism: local[N] when no master is set; splits are sized for N workers."
                    + " Default: the number of cores.")
    public int workers;

    @Option(names = "--master", paramLabel = "URL",
            description = "Spark master (default: spark-submit's, else local[workers]).")
    public String master;

    @Option(names = "--overwrite", description = "Replace existing outputs.")
    public boolean overwrite;

    @Option(names = "--skip-bad-records",
            description = "Skip and count malformed records instead of failing on the first one.")
    public boolean skipBadRecords;

    /** Checks values picocli cannot; errors name the flag. */
    void validate() {
        InputFormat.parse(inputFormat);
        if (!textDocument.equals("file") && !textDocument.equals("line")) {
            throw new IllegalArgumentException("--text-document " + textDocument + ": expected 'file' or 'line'");
        }
        if (jsonKeys.isEmpty()) {
            throw new IllegalArgumentException("--json-keys: at least one key is needed");
        }
        if (workers < 0) {
            throw new IllegalArgumentException("--workers " + workers + ": expected a positive number");
        }
        if (rowGroupSizeMb <= 0) {
            throw new IllegalArgumentException("--row-group-size-mb " + rowGroupSizeMb + ": expected > 0");
        }
    }

    int effectiveWorkers() {
        return workers > 0 ? workers : Runtime.getRuntime().availableProcessors();
    }
}
