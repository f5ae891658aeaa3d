package dev.lattice.trainer.engine;

import com.google.gson.Gson;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Appends one JSON object per logged iteration to {@code metrics.jsonl} and draws the loss curve as a PNG at the
 * end. Without a directory it only keeps the points.
 */
public final class MetricsLog implements AutoCloseable {

    private static final Gson GSON = new Gson();

    private final Path dir;
    private final BufferedWriter out;
    private final XYSeries train = new XYSeries("train lm loss");
    private final XYSeries valid = new XYSeries("validation lm loss");

    public MetricsLog(Path dir) throws IOException {
        this.dir = dir;
        if (dir != null) {
            Files.createDirectories(dir);
            out = Files.newBufferedWriter(dir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } else {
            out = null;
        }
    }

    /** The training {@code lm_loss} of each line of {@code dir/metrics.jsonl} that has one, in file order. */
    public static java.util.List<Double> trainingLosses(Path dir) throws IOException {
        java.util.List<Double> losses = new java.util.ArrayList<>();
        for (com.google.gson.JsonObject o : records(dir)) {
            if (o.has("lm_loss") && !o.get("lm_loss").isJsonNull()) {
                losses.add(o.get("lm_loss").getAsDouble());
            }
        }
        return losses;
    }

    /** Every line of {@code dir/metrics.jsonl}, parsed, in file order. */
    public static java.util.List<com.google.gson.JsonObject> records(Path dir) throws IOException {
        java.util.List<com.google.gson.JsonObject> out = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"), StandardCharsets.UTF_8)) {
            out.add(com.google.gson.JsonParser.parseString(line).getAsJsonObject());
        }
        return out;
    }

    public void logIteration(long iteration, double lmLoss, double lr, double gradNorm, long consumedSamples,
                             double tokensPerSec, double tflops, int skipped, int nan) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("iteration", iteration);
        m.put("lm_loss", finiteOrNull(lmLoss));
        m.put("learning_rate", lr);
        m.put("grad_norm", finiteOrNull(gradNorm));
        m.put("consumed_samples", consumedSamples);
        m.put("tokens_per_sec", tokensPerSec);
        m.put("tflops_per_gpu", tflops);
        m.put("skipped", skipped);
        m.put("nan", nan);
        if (Double.isFinite(lmLoss)) {
            train.add(iteration, lmLoss);
        }
        write(m);
    }

    public void logValidation(long iteration, double lmLoss) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("iteration", iteration);
        m.put("valid_lm_loss", finiteOrNull(lmLoss));
        if (Double.isFinite(lmLoss)) {
            valid.add(iteration, lmLoss);
        }
        write(m);
    }

    private static Object finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }

    private void write(Map<String, Object> m) throws IOException {
        if (out != null) {
            out.write(GSON.toJson(m));
            out.write('\n');
            out.flush();
        }
    }

    /** Writes {@code loss.png} beside the metrics (no-op without points or directory). */
    public Path plot() throws IOException {
        if (dir == null || train.isEmpty()) {
            return null;
        }
        XYSeriesCollection data = new XYSeriesCollection(train);
        if (!valid.isEmpty()) {
            data.addSeries(valid);
        }
        JFreeChart chart = LossChart.of("Lattice training loss", data);
        org.jfree.chart.plot.XYPlot plot = chart.getXYPlot();
        org.jfree.chart.renderer.xy.XYLineAndShapeRenderer renderer =
                new org.jfree.chart.renderer.xy.XYLineAndShapeRenderer(true, false);
        renderer.setSeriesShapesVisible(1, true); // validation points are few: show them
        plot.setRenderer(renderer);
        Path png = dir.resolve("loss.png");
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 900, 500);
        return png;
    }

    @Override
    public void close() throws IOException {
        if (out != null) {
            out.close();
        }
    }
}
