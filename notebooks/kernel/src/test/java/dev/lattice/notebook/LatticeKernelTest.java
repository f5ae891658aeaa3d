package dev.lattice.notebook;

import io.github.spencerpark.jupyter.kernel.display.DisplayData;
import io.github.spencerpark.jupyter.kernel.display.mime.MIMEType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Cells through the kernel's eval path, without Jupyter: one JShell for the class, as in a notebook. */
class LatticeKernelTest {

    /** The kernel with display() captured instead of published (there is no Jupyter connection). */
    static final class CapturingKernel extends LatticeKernel {
        final List<DisplayData> displayed = new ArrayList<>();

        CapturingKernel() {
            super(System.getProperty("java.class.path"));
        }

        @Override
        public void display(DisplayData data) {
            displayed.add(data);
        }
    }

    static CapturingKernel kernel;

    @BeforeAll
    static void start() {
        kernel = new CapturingKernel();
    }

    @AfterAll
    static void stop() {
        kernel.close();
    }

    private static String text(DisplayData d) {
        return d == null ? null : (String) d.getData(MIMEType.TEXT_PLAIN);
    }

    /** Runs a cell and returns what it printed to System.out. */
    private static String printed(String cell) throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertNull(kernel.eval(cell));
        } finally {
            System.setOut(saved);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void expressionValueIsTheResult() throws Exception {
        assertEquals("3", text(kernel.eval("1 + 2")));
        assertEquals("\"ab\"", text(kernel.eval("\"a\" + \"b\"")));
        assertNull(kernel.eval("int unused = 7;"), "declarations show nothing");
        assertNull(kernel.eval("1 + 2;"), "a semicolon hides the value");
        assertNull(kernel.eval("String.format(\"%d\", 5);"));
        assertEquals("7", text(kernel.eval("unused")));
    }

    @Test
    void multiStatementCellRunsInOrderAndShowsTheLastValue() throws Exception {
        DisplayData d = kernel.eval("""
                // a comment first
                List<Integer> xs = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    xs.add(i * i);
                }
                int sum = xs.stream().mapToInt(Integer::intValue).sum();
                sum * 2
                """);
        assertEquals("28", text(d));
        assertEquals("14", text(kernel.eval("sum")), "variables survive the cell");
        assertEquals("hello 14\n", printed("System.out.println(\"hello \" + sum);"));
    }

    @Test
    void classDeclaredInOneCellIsUsableInTheNext() throws Exception {
        assertNull(kernel.eval("""
                record Point(int x, int y) {
                    int norm1() { return Math.abs(x) + Math.abs(y); }
                }
                static int twice(int v) { return 2 * v; }
                """));
        assertEquals("10", text(kernel.eval("twice(new Point(3, -2).norm1())")));
    }

    @Test
    void compileErrorsFailTheCellNamingTheLine() {
        CompilationException e = assertThrows(CompilationException.class,
                () -> kernel.eval("int ok = 1;\nint bad = undefinedThing + 1;"));
        assertEquals(List.of("line 2: cannot find symbol", "  symbol:   variable undefinedThing",
                "    int bad = undefinedThing + 1;", "              ^"),
                e.getMessage().lines().toList(), e.getMessage());
        assertThrows(CompilationException.class, () -> kernel.eval("int x = ;"));
        assertThrows(CompilationException.class, () -> kernel.eval("for (int i = 0; i < 3; i++) {"),
                "an incomplete cell");
        CompilationException undefined = assertThrows(CompilationException.class,
                () -> kernel.eval("void callsNothing() { noSuchMethod(); }"));
        assertTrue(undefined.getMessage().contains("method callsNothing refers to undefined"),
                undefined.getMessage());
    }

    @Test
    void exceptionsFailTheCellWithTypeMessageStackAndCause() throws Exception {
        kernel.eval("""
                void check(double first, double last) {
                    if (!(last < first)) throw new IllegalStateException("loss did not drop: " + first + " -> " + last);
                }
                """);
        EvaluationException e = assertThrows(EvaluationException.class, () -> kernel.eval("check(1.0, 2.0);"));
        assertEquals("java.lang.IllegalStateException: loss did not drop: 1.0 -> 2.0", e.toString());
        assertTrue(e.getStackTrace().length > 0 && e.getStackTrace()[0].getMethodName().equals("check"),
                List.of(e.getStackTrace()).toString());
        List<String> lines = kernel.formatError(e);
        assertEquals(List.of("java.lang.IllegalStateException: loss did not drop: 1.0 -> 2.0",
                "    at REPL.check(line 2)", "    at REPL.<cell>(line 1)"), lines, "cell frames name the cell's line");
        assertTrue(lines.stream().noneMatch(l -> l.contains("jdk.jshell")), lines.toString());

        EvaluationException third = assertThrows(EvaluationException.class,
                () -> kernel.eval("int a = 1;\n\nint b = 0;\nint c = a / b;\nSystem.out.println(c);"));
        assertEquals(List.of("java.lang.ArithmeticException: / by zero", "    at REPL.<cell>(line 4)"),
                kernel.formatError(third));

        EvaluationException wrapped = assertThrows(EvaluationException.class,
                () -> kernel.eval("throw new java.io.UncheckedIOException(\"reading\", new java.io.IOException(\"disk\"));"));
        assertEquals("java.io.IOException: disk", wrapped.getCause().toString());
        assertTrue(String.join("\n", kernel.formatError(wrapped)).contains("Caused by: java.io.IOException: disk"));
        assertEquals("4", text(kernel.eval("2 + 2")), "the kernel goes on after a failed cell");
    }

    @Test
    void displayPngAndMarkdown() throws Exception {
        kernel.displayed.clear();
        kernel.eval("""
                var img = new java.awt.image.BufferedImage(4, 3, java.awt.image.BufferedImage.TYPE_INT_RGB);
                var bytes = new ByteArrayOutputStream();
                javax.imageio.ImageIO.write(img, "png", bytes);
                Display.png(bytes.toByteArray());
                Display.markdown("| a |\\n|---|\\n| 1 |");
                """);
        assertEquals(2, kernel.displayed.size());
        byte[] png = Base64.getDecoder().decode((String) kernel.displayed.get(0).getData(MIMEType.IMAGE_PNG));
        assertEquals('P', png[1]);
        assertEquals("| a |\n|---|\n| 1 |", kernel.displayed.get(1).getData(MIMEType.TEXT_MARKDOWN));
        EvaluationException notPng = assertThrows(EvaluationException.class,
                () -> kernel.eval("Display.png(new byte[] {1, 2, 3});"));
        assertTrue(notPng.getMessage().contains("not a PNG"), notPng.getMessage());
    }

    @Test
    void echoCopiesWhatCellsPrint() throws Exception {
        ByteArrayOutputStream copy = new ByteArrayOutputStream();
        kernel.echoTo(new PrintStream(copy, true, StandardCharsets.UTF_8));
        try {
            assertEquals("to the cell\n", printed("System.out.println(\"to the cell\");"));
        } finally {
            kernel.echoTo(null);
        }
        assertEquals("to the cell\n", copy.toString(StandardCharsets.UTF_8));
    }

    @Test
    void completesInTheSnippetUnderTheCursor() throws Exception {
        kernel.eval("List<String> names = new ArrayList<>();");
        String cell = "int n = 1;\nnames.siz";
        var options = kernel.complete(cell, cell.length());
        assertTrue(options.getReplacements().stream().anyMatch(r -> r.startsWith("size(")),
                options.getReplacements().toString());
        assertEquals(cell.indexOf("siz"), options.getSourceStart());
        assertEquals(cell.length(), options.getSourceEnd());
    }

    @Test
    void incompleteCodeIsReportedForFrontEnds() {
        assertEquals("complete", kernel.isComplete("int a = 1;"));
        assertEquals("    ", kernel.isComplete("for (int i = 0; i < 3; i++) {"));
    }
}
