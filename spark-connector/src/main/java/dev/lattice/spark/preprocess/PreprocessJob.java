package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.storage.OutputConfiguration;
import dev.lattice.spark.storage.SerializableConfiguration;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import picocli.CommandLine;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lattice preprocess}: the Spark job that turns text into tokenized Parquet shards and Megatron indexed
 * datasets. Run it with {@code bin/lattice preprocess ...} or
 * {@code spark-submit --class dev.lattice.spark.preprocess.PreprocessJob lattice-spark.jar ...}.
 */
public final class PreprocessJob {

    private PreprocessJob() {
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /** Parses flags, runs the job and prints the summary; returns the process exit code (2 for usage errors). */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        PreprocessOptions options = new PreprocessOptions();
        CommandLine cl = new CommandLine(options);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            err.println("lattice preprocess: " + e.getMessage());
            cl.usage(err);
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return 0;
        }
        SparkSession created = null;
        try {
            options.validate();
            boolean existing = SparkSession.getActiveSession().isDefined()
                    || SparkSession.getDefaultSession().isDefined();
            SparkSession spark = session(options);
            if (!existing) {
                created = spark;
            }
            PreprocessSummary summary = run(spark, options, out);
            out.print(summary.render());
            return 0;
        } catch (IllegalArgumentException | IllegalStateException e) {
            err.println("lattice preprocess: " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("lattice preprocess: failed: " + rootReason(e));
            return 1;
        } finally {
            if (created != null) {
                created.stop();
            }
        }
    }

    private static SparkSession session(PreprocessOptions o) {
        SparkSession.Builder b = SparkSession.builder().appName("lattice-preprocess");
        if (o.master != null) {
            b.master(o.master);
        } else if (!new SparkConf().contains("spark.master")) {
            b.master("local[" + o.effectiveWorkers() + "]");
        }
        return b.config("spark.ui.showConsoleProgress", "false").getOrCreate();
    }

    /** The job itself, on an existing session; progress lines go to {@code progressOut}. */
    public static PreprocessSummary run(SparkSession spark, PreprocessOptions o, PrintStream progressOut)
            throws IOException {
        o.validate();
        long start = System.nanoTime();
        Configuration conf = OutputConfiguration.from(spark.sparkContext().hadoopConfiguration());
        HadoopStorage storage = new HadoopStorage(conf);
        String[] keys = o.jsonKeys.toArray(new String[0]);
        String prefix = qualify(o.outputPrefix, conf);

        TokenizerSpec spec = TokenizerSpec.of(o.tokenizer, true, o.eodToken);
        TextTokenizer tokenizer = spec.tokenizer();
        new DocumentTokenizer(tokenizer, o.appendEod); // fails now if --append-eod has no token to append
        TokenDType dtype = TokenDType.optimalFor(tokenizer.vocabSize());

        List<String> inputs = o.input.isEmpty() ? List.of(DefaultCorpus.locate()) : o.input;
        boolean perLine = o.textDocument.equals("line");
        InputPlanner planner = new InputPlanner(conf, InputFormat.parse(o.inputFormat), perLine);
        List<InputSplit> splits = planner.plan(inputs, o.effectiveWorkers());
        checkKeysFitFormats(splits, keys);

        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("lattice.tokenizer", tokenizer.identifier());
        metadata.put("lattice.vocab_size", Integer.toString(tokenizer.vocabSize()));
        metadata.put("lattice.append_eod", Boolean.toString(o.appendEod));
        OutputLayout layout = new OutputLayout(prefix, keys);
        TokenizedOutput output = new TokenizedOutput(storage, new TokenizedOutput.Settings(layout, dtype,
                tokenizer.vocabSize(), o.overwrite, !o.noParquetShards, (long) o.rowGroupSizeMb << 20, metadata));
        output.checkOutputsFree();

        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        LongAccumulator tokens = spark.sparkContext().longAccumulator("lattice.tokens");
        LongAccumulator bytes = spark.sparkContext().longAccumulator("lattice.bytes");
        ProgressReporter progress = new ProgressReporter(progressOut, tokens, bytes);
        spark.sparkContext().addSparkListener(progress);
        JavaRDD<TokenizedRecord> records = jsc.parallelize(splits, splits.size())
                .mapPartitions(new TokenizeSplits(new SerializableConfiguration(conf), keys, spec, o.appendEod,
                        o.skipBadRecords, perLine, tokens, bytes))
                .persist(StorageLevel.MEMORY_AND_DISK());
        TokenizedOutput.Result result;
        try {
            result = output.write(records, progress);
        } finally {
            records.unpersist(false);
            spark.sparkContext().removeSparkListener(progress);
        }

        long documents = 0;
        long empty = 0;
        long tokenCount = 0;
        long inputBytes = 0;
        long skipped = 0;
        List<String> errors = new ArrayList<>();
        for (PartitionStats s : result.partitions()) {
            documents += s.documents();
            empty += s.emptyDocuments();
            for (long t : s.tokens()) {
                tokenCount += t;
            }
            inputBytes += s.inputBytes();
            skipped += s.skipped();
            for (String e : s.firstErrors()) {
                if (errors.size() < PartitionStats.MAX_ERRORS_KEPT) {
                    errors.add(e);
                }
            }
        }
        List<String> outputs = new ArrayList<>(result.outputs());
        outputs.add(layout.summaryFile());
        PreprocessSummary summary = new PreprocessSummary(documents, empty, tokenCount, inputBytes,
                result.outputBytes(), skipped, (System.nanoTime() - start) / 1e9, splits.size(), outputs, errors);
        try (OutputStream s = storage.create(layout.summaryFile(), true)) {
            s.write(summary.toJson().getBytes(StandardCharsets.UTF_8));
        }
        return summary;
    }

    static String qualify(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }

    private static void checkKeysFitFormats(List<InputSplit> splits, String[] keys) {
        if (keys.length == 1) {
            return;
        }
        for (InputSplit s : splits) {
            for (FileChunk c : s.chunks()) {
                if (c.format() == InputFormat.TEXT || c.format() == InputFormat.ZIP) {
                    throw new IllegalArgumentException("--json-keys " + String.join(" ", keys) + ": " + c.path()
                            + " is plain text, which has one field; give one key");
                }
            }
        }
    }

    /** The message a user needs from a failed Spark job: the bad record, not the scheduler's wrapping. */
    static String rootReason(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BadRecordException || t instanceof IllegalArgumentException) {
                return t.getMessage();
            }
        }
        String msg = String.valueOf(e.getMessage());
        for (String marker : new String[] {BadRecordException.class.getName() + ": ",
                IllegalArgumentException.class.getName() + ": "}) {
            int at = msg.indexOf(marker);
            if (at >= 0) {
                String rest = msg.substring(at + marker.length());
                int nl = rest.indexOf('\n');
                return nl >= 0 ? rest.substring(0, nl) : rest;
            }
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.toString();
    }
}
