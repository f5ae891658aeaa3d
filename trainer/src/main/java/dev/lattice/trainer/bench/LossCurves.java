package dev.lattice.trainer.bench;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The lm loss of each iteration of several runs (one per layout), kept in a CSV ({@code iteration,<name>,...}) and
 * drawn as one PNG. The CSV is the record: a GPU host without font libraries cannot draw, so the PNG can be drawn
 * again from the CSV elsewhere ({@code lattice bench --layouts --replot losses.csv}).
 */
final class LossCurves {

    private final Map<String, List<Double>> curves = new LinkedHashMap<>();

    /** Adds a run's losses, iteration 1 first. */
    void add(String name, List<Double> losses) {
        if (name.contains(",") || name.contains("\"")) {
            throw new IllegalArgumentException("curve name '" + name + "': no commas or quotes (a CSV column)");
        }
        curves.put(name, List.copyOf(losses));
    }

    Map<String, List<Double>> curves() {
        return curves;
    }

    void writeCsv(Path csv) throws IOException {
        StringBuilder b = new StringBuilder("iteration");
        curves.keySet().forEach(n -> b.append(',').append(n));
        b.append('\n');
        int rows = curves.values().stream().mapToInt(List::size).max().orElse(0);
        for (int i = 0; i < rows; i++) {
            b.append(i + 1);
            for (List<Double> c : curves.values()) {
                b.append(',');
                if (i < c.size() && Double.isFinite(c.get(i))) {
                    b.append(String.format(Locale.ROOT, "%.7g", c.get(i)));
                }
            }
            b.append('\n');
        }
        Files.writeString(csv, b.toString(), StandardCharsets.UTF_8);
    }

    static LossCurves readCsv(Path csv) throws IOException {
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).startsWith("iteration,")) {
            throw new IOException(csv + ": line 1 should be the header 'iteration,<layout>,...'");
        }
        String[] names = lines.get(0).split(",", -1);
        List<List<Double>> columns = new ArrayList<>();
        for (int c = 1; c < names.length; c++) {
            columns.add(new ArrayList<>());
        }
        for (int l = 1; l < lines.size(); l++) {
            String[] cells = lines.get(l).split(",", -1);
            if (cells.length != names.length) {
                throw new IOException(csv + ": line " + (l + 1) + " has " + cells.length + " fields, expected "
                        + names.length);
            }
            for (int c = 1; c < names.length; c++) {
                try {
                    columns.get(c - 1).add(cells[c].isEmpty() ? Double.NaN : Double.parseDouble(cells[c]));
                } catch (NumberFormatException e) {
                    throw new IOException(csv + ": line " + (l + 1) + ", column '" + names[c] + "': '" + cells[c]
                            + "' is not a number");
                }
            }
        }
        LossCurves out = new LossCurves();
        for (int c = 1; c < names.length; c++) {
            out.add(names[c], columns.get(c - 1));
        }
        return out;
    }

    /** The curves as one line chart, lm loss against iteration. */
    void plot(Path png, String title) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        curves.forEach((name, losses) -> {
            XYSeries s = new XYSeries(name);
            for (int i = 0; i < losses.size(); i++) {
                if (Double.isFinite(losses.get(i))) {
                    s.add(i + 1, losses.get(i));
                }
            }
            data.addSeries(s);
        });
        JFreeChart chart = dev.lattice.trainer.engine.LossChart.of(title, data);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 1000, 560);
    }
}
