package dev.lattice.notebook;

import io.github.spencerpark.jupyter.channels.JupyterConnection;
import io.github.spencerpark.jupyter.kernel.BaseKernel;
import io.github.spencerpark.jupyter.kernel.KernelConnectionProperties;
import io.github.spencerpark.jupyter.kernel.LanguageInfo;
import io.github.spencerpark.jupyter.kernel.ReplacementOptions;
import io.github.spencerpark.jupyter.kernel.display.DisplayData;
import jdk.jshell.DeclarationSnippet;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.SourceCodeAnalysis.CompletionInfo;
import jdk.jshell.SourceCodeAnalysis.Completeness;
import jdk.jshell.UnresolvedReferenceException;

import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A Jupyter kernel for Java: cells are evaluated by JShell with the local execution engine, so snippets run in this
 * JVM next to everything on its class path (Lattice, Spark in local mode). A cell may hold several snippets (split
 * with {@link SourceCodeAnalysis#analyzeCompletion}); the value of a trailing expression without a semicolon is the
 * cell's result; System.out/err go to the cell's output; a snippet the compiler rejects, an exception, or a
 * declaration that refers to something undefined fails the cell. {@link Display} shows images and Markdown.
 *
 * <p>Started by Jupyter through a kernelspec ({@code notebooks/run-notebooks.sh} writes one):
 * {@code java <module options> -cp <class path> dev.lattice.notebook.LatticeKernel {connection_file}}. With
 * {@code LATTICE_KERNEL_ECHO=true} in its environment, cells' output is copied to the kernel's stderr.
 */
public class LatticeKernel extends BaseKernel implements AutoCloseable {

    /** What every cell sees without importing (the jshell tool's defaults, plus {@link Display}). */
    static final List<String> DEFAULT_IMPORTS = List.of("java.io.*", "java.math.*", "java.net.*", "java.nio.file.*",
            "java.util.*", "java.util.concurrent.*", "java.util.function.*", "java.util.regex.*",
            "java.util.stream.*", Display.class.getName());

    /**
     * The protocol library logs every message at INFO through java.util.logging, on loggers without a package
     * ("ShellChannel", "Loop-..."): the root logger's level quiets them; kept here so the setting sticks.
     */
    private static final java.util.logging.Logger JUL_ROOT = java.util.logging.Logger.getLogger("");

    /** Set by the startup snippet: the class loader that holds the snippets' classes. */
    private static volatile ClassLoader registeredSnippetLoader;

    private final JShell shell;
    private final SourceCodeAnalysis analysis;
    private final ClassLoader snippetLoader;
    private volatile PrintStream echo;
    /** Where each snippet's first line is: the cell (its execution count) and the line in it. */
    private final Map<String, SnippetLocation> locations = new ConcurrentHashMap<>();

    private record SnippetLocation(int cell, int firstLine) {
    }

    /** @param classPath what snippets compile against (the running JVM's class path for the real kernel) */
    public LatticeKernel(String classPath) {
        // Local execution: snippets run in this JVM; their classes load in a child of the application loader.
        shell = JShell.builder().executionEngine("local")
                .out(following(() -> System.out)).err(following(() -> System.err)).build();
        if (classPath != null && !classPath.isBlank()) {
            shell.addToClasspath(classPath);
        }
        analysis = shell.sourceCodeAnalysis();
        Display.setSink(this::display);
        try {
            for (String imp : DEFAULT_IMPORTS) {
                evaluate("import " + imp + ";");
            }
            // The snippets' loader becomes the context class loader of the threads that run cells, so a Spark
            // context created in a cell can deserialize lambdas and classes declared in cells.
            evaluate(LatticeKernel.class.getName()
                    + ".registerSnippetLoader(new Object() { }.getClass().getClassLoader());");
        } catch (CompilationException | EvaluationException e) {
            throw new IllegalStateException("the kernel's startup snippets failed: " + e, e);
        }
        snippetLoader = registeredSnippetLoader;
    }

    /** Called by the kernel's startup snippet; not for notebooks. */
    public static void registerSnippetLoader(ClassLoader loader) {
        registeredSnippetLoader = loader;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java -cp <class path> " + LatticeKernel.class.getName() + " CONNECTION_FILE");
            System.exit(2);
        }
        initLogging();
        JUL_ROOT.setLevel(java.util.logging.Level.WARNING);
        KernelConnectionProperties props = KernelConnectionProperties.parse(Files.readString(Path.of(args[0])));
        LatticeKernel kernel = new LatticeKernel(System.getProperty("java.class.path"));
        if (Boolean.parseBoolean(System.getenv("LATTICE_KERNEL_ECHO"))) {
            kernel.echoTo(System.err);
        }
        JupyterConnection connection = new JupyterConnection(props);
        kernel.becomeHandlerForConnection(connection);
        connection.connect();
        connection.waitUntilClose();
        System.exit(0); // Spark's non-daemon threads would keep the JVM alive; its shutdown hook stops it cleanly
    }

    /**
     * Starts the logging framework (SLF4J/Log4j 2, when on the class path) before any cell runs: console appenders
     * then write to the kernel process's stderr (the Jupyter server's log), not into whichever cell first logs.
     */
    static void initLogging() {
        try {
            Class.forName("org.slf4j.LoggerFactory").getMethod("getLogger", Class.class)
                    .invoke(null, LatticeKernel.class);
        } catch (ReflectiveOperationException | LinkageError e) {
            // no SLF4J: nothing to initialize
        }
    }

    @Override
    public LanguageInfo getLanguageInfo() {
        return new LanguageInfo.Builder("java").version(Runtime.version().toString())
                .mimetype("text/x-java-source").fileExtension(".java").pygments("java").codemirror("text/x-java")
                .build();
    }

    @Override
    public String getBanner() {
        return "Java " + Runtime.version() + " (JShell) with Lattice and Spark";
    }

    /**
     * Also writes what cells print to {@code echo} (e.g. the kernel's own stderr, so a CI log shows the notebooks'
     * output even when a failing cell stops nbconvert before it saves the notebook); null turns it off.
     */
    public void echoTo(PrintStream echo) {
        this.echo = echo;
    }

    @Override
    public DisplayData eval(String code) throws Exception {
        Thread thread = Thread.currentThread();
        ClassLoader saved = thread.getContextClassLoader();
        if (snippetLoader != null) {
            thread.setContextClassLoader(snippetLoader); // the snippet threads JShell starts inherit it
        }
        PrintStream cellOut = System.out;
        PrintStream cellErr = System.err;
        PrintStream copy = echo;
        if (copy != null) {
            System.setOut(tee(cellOut, copy));
            System.setErr(tee(cellErr, copy));
        }
        try {
            String value = evaluate(code);
            return value == null ? null : new DisplayData(value);
        } finally {
            System.out.flush(); // print() without a newline stays buffered otherwise
            System.err.flush();
            System.setOut(cellOut);
            System.setErr(cellErr);
            thread.setContextClassLoader(saved);
        }
    }

    private static PrintStream tee(PrintStream a, PrintStream b) {
        return new PrintStream(new OutputStream() {
            @Override
            public void write(int c) {
                a.write(c);
                b.write(c);
            }

            @Override
            public void write(byte[] buf, int off, int len) {
                a.write(buf, off, len);
                b.write(buf, off, len);
            }

            @Override
            public void flush() {
                a.flush();
                b.flush();
            }
        }, true, StandardCharsets.UTF_8);
    }

    /**
     * Evaluates a cell snippet by snippet; returns the trailing expression's value (JShell's rendering), or null.
     *
     * @throws CompilationException when a snippet is rejected, or a declaration of the cell refers to something
     *     undefined
     * @throws EvaluationException when a snippet throws
     */
    String evaluate(String cell) throws CompilationException, EvaluationException {
        List<DeclarationSnippet> declared = new ArrayList<>();
        String value = null;
        String rest = cell;
        int offset = 0;
        while (!rest.isBlank()) {
            CompletionInfo info = analysis.analyzeCompletion(rest);
            if (info.completeness() == Completeness.EMPTY) { // only comments left
                break;
            }
            boolean complete = info.completeness().isComplete() && info.source() != null;
            // An incomplete tail is evaluated as it is, so the compiler names what is missing.
            String source = complete ? info.source() : rest;
            String remaining = complete ? info.remaining() : "";
            int start = offset + startOf(rest, source);
            value = evaluateSnippet(cell, source, start, declared);
            if (complete && info.completeness() != Completeness.COMPLETE_WITH_SEMI && source.strip().endsWith(";")) {
                value = null; // as in IPython, a semicolon after the last expression hides its value
            }
            offset += rest.length() - remaining.length();
            rest = remaining;
        }
        for (DeclarationSnippet d : declared) {
            Snippet.Status status = shell.status(d);
            if (status == Snippet.Status.RECOVERABLE_DEFINED || status == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                throw new CompilationException(describe(d) + " refers to undefined "
                        + shell.unresolvedDependencies(d).collect(Collectors.joining(", ")));
            }
        }
        return value;
    }

    private String evaluateSnippet(String cell, String source, int start, List<DeclarationSnippet> declared)
            throws CompilationException, EvaluationException {
        List<SnippetEvent> events = shell.eval(source);
        SnippetEvent event = events.stream().filter(e -> e.causeSnippet() == null).findFirst().orElse(null);
        if (event == null) {
            throw new CompilationException("line " + lineOf(cell, start) + ": cannot evaluate: " + source.strip());
        }
        Snippet snippet = event.snippet();
        // JShell numbers a snippet's lines from its first non-blank line, where start points.
        locations.put(snippet.id(), new SnippetLocation(executionCount.get() - 1, lineOf(cell, start)));
        if (event.status() == Snippet.Status.REJECTED) {
            throw new CompilationException(diagnostics(cell, source, start, snippet));
        }
        if (event.exception() != null) {
            throw evaluationError(event.exception());
        }
        if (snippet instanceof DeclarationSnippet d && snippet.subKind() != Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND) {
            declared.add(d);
        }
        return switch (snippet.subKind()) {
            case TEMP_VAR_EXPRESSION_SUBKIND, VAR_VALUE_SUBKIND, OTHER_EXPRESSION_SUBKIND ->
                    event.value() == null || event.value().isEmpty() ? null : event.value();
            default -> null;
        };
    }

    private String diagnostics(String cell, String source, int start, Snippet snippet) {
        int lead = source.length() - source.stripLeading().length();
        StringBuilder b = new StringBuilder();
        for (Diag d : shell.diagnostics(snippet).filter(Diag::isError).toList()) {
            long pos = d.getStartPosition() == Diag.NOPOS ? d.getPosition() : d.getStartPosition();
            int at = pos == Diag.NOPOS ? start : Math.min(cell.length(), Math.max(start, start + (int) pos - lead));
            if (b.length() > 0) {
                b.append('\n');
            }
            int line = lineOf(cell, at);
            // javac names JShell's wrapper class, which is blank, as the location: leave that line out
            String message = d.getMessage(Locale.ROOT).lines().filter(l -> !l.matches("\\s*location: class\\s*"))
                    .collect(Collectors.joining("\n"));
            b.append("line ").append(line).append(": ").append(message);
            String text = cell.lines().skip(line - 1).findFirst().orElse("");
            int column = at - cell.lastIndexOf('\n', Math.max(0, at - 1)) - 1;
            if (at > 0 && cell.charAt(at - 1) == '\n') {
                column = 0;
            }
            b.append('\n').append("    ").append(text).append('\n').append("    ")
                    .append(" ".repeat(Math.max(0, Math.min(column, text.length())))).append('^');
        }
        if (b.length() == 0) {
            b.append("line ").append(lineOf(cell, start)).append(": rejected: ").append(source.strip());
        }
        return b.toString();
    }

    private EvaluationException evaluationError(JShellException e) {
        if (e instanceof UnresolvedReferenceException u) {
            DeclarationSnippet d = u.getSnippet();
            return new EvaluationException("used " + describe(d) + ", which refers to undefined "
                    + shell.unresolvedDependencies(d).collect(Collectors.joining(", ")), new StackTraceElement[0],
                    null);
        }
        EvalException ev = (EvalException) e;
        EvaluationException cause = ev.getCause() != null ? evaluationError(ev.getCause()) : null;
        String message = ev.getMessage();
        String header = ev.getExceptionClassName() + (message == null ? "" : ": " + message);
        StackTraceElement[] frames = ev.getStackTrace().clone();
        for (int i = 0; i < frames.length; i++) {
            frames[i] = inCell(frames[i]);
        }
        return new EvaluationException(header, frames, cause);
    }

    /**
     * JShell reports a frame of cell code as class "", file {@code #<snippet id>} and the line in the snippet; this
     * makes it {@code REPL.method(cell [n], line l)}, the line counted in the cell ({@code <cell>} for a cell's
     * top-level code). Other frames stay as they are.
     */
    private StackTraceElement inCell(StackTraceElement f) {
        String file = f.getFileName();
        if (!f.getClassName().isEmpty() || file == null || !file.startsWith("#")) {
            return f;
        }
        SnippetLocation where = locations.get(file.substring(1));
        String place;
        if (where == null) {
            place = "snippet " + file + ", line " + f.getLineNumber();
        } else {
            int line = where.firstLine() + Math.max(0, f.getLineNumber() - 1);
            place = (where.cell() > 0 ? "cell [" + where.cell() + "], " : "") + "line " + line;
        }
        return new StackTraceElement("REPL", f.getMethodName().isEmpty() ? "<cell>" : f.getMethodName(), place, -1);
    }

    private static String describe(DeclarationSnippet d) {
        return switch (d.kind()) {
            case TYPE_DECL -> "type " + d.name();
            case METHOD -> "method " + d.name();
            case VAR -> "variable " + d.name();
            default -> d.name();
        };
    }

    /** Where {@code source} (as JShell returned it, perhaps with a semicolon added) starts in {@code rest}. */
    private static int startOf(String rest, String source) {
        String head = source.strip().lines().findFirst().orElse("");
        if (head.endsWith(";")) {
            head = head.substring(0, head.length() - 1);
        }
        int i = head.isEmpty() ? -1 : rest.indexOf(head);
        if (i >= 0) {
            return i;
        }
        return rest.length() - rest.stripLeading().length();
    }

    private static int lineOf(String cell, int index) {
        int line = 1;
        for (int i = 0; i < Math.min(index, cell.length()); i++) {
            if (cell.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    @Override
    public List<String> formatError(Exception e) {
        if (e instanceof CompilationException) {
            return e.getMessage().lines().toList();
        }
        if (e instanceof EvaluationException ev) {
            List<String> lines = new ArrayList<>();
            for (EvaluationException x = ev; x != null; x = x.getCause()) {
                lines.add((x == ev ? "" : "Caused by: ") + x.getMessage());
                for (StackTraceElement f : x.getStackTrace()) {
                    lines.add("    at " + f);
                }
            }
            return lines;
        }
        StringWriter w = new StringWriter();
        try (PrintWriter p = new PrintWriter(w)) {
            e.printStackTrace(p);
        }
        return w.toString().lines().toList();
    }

    @Override
    public String isComplete(String code) {
        String rest = code;
        while (true) {
            CompletionInfo info = analysis.analyzeCompletion(rest);
            switch (info.completeness()) {
                case EMPTY:
                    return IS_COMPLETE_YES;
                case COMPLETE:
                case COMPLETE_WITH_SEMI:
                    if (info.remaining().isBlank()) {
                        return IS_COMPLETE_YES;
                    }
                    rest = info.remaining();
                    break;
                case DEFINITELY_INCOMPLETE:
                case CONSIDERED_INCOMPLETE:
                    return "    ";
                default:
                    return IS_COMPLETE_BAD;
            }
        }
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        // Complete within the snippet that holds the cursor.
        int start = 0;
        String rest = code;
        while (true) {
            CompletionInfo info = analysis.analyzeCompletion(rest);
            if (!info.completeness().isComplete() || info.remaining() == null) {
                break;
            }
            int next = start + rest.length() - info.remaining().length();
            if (next >= at || info.remaining().isBlank()) {
                break;
            }
            start = next;
            rest = info.remaining();
        }
        int end = Math.min(code.length(), Math.max(at, start));
        int[] anchor = new int[1];
        List<String> options = analysis.completionSuggestions(code.substring(start, end), end - start, anchor)
                .stream().map(SourceCodeAnalysis.Suggestion::continuation).distinct().toList();
        return new ReplacementOptions(options, start + anchor[0], at);
    }

    @Override
    public void interrupt() {
        shell.stop();
    }

    @Override
    public void onShutdown(boolean isRestarting) {
        close();
    }

    @Override
    public void close() {
        shell.close();
    }

    /** A stream that writes to whatever {@code System.out}/{@code err} is at the time (the cell's output). */
    private static PrintStream following(Supplier<PrintStream> target) {
        return new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                target.get().write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                target.get().write(b, off, len);
            }

            @Override
            public void flush() {
                target.get().flush();
            }
        }, true, StandardCharsets.UTF_8);
    }
}
