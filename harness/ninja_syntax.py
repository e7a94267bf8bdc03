"""A small writer for ninja build files, used by configure.py.

Written for migsim in the manner of ninja's own misc/ninja_syntax.py: it only
formats text; every decision about what to build lives in configure.py.
"""


def escape_path(word):
    return word.replace("$ ", "$$ ").replace(" ", "$ ").replace(":", "$:")


class Writer:
    def __init__(self, output):
        self.output = output

    def comment(self, text):
        for line in text.splitlines():
            self.output.write("# " + line + "\n")

    def newline(self):
        self.output.write("\n")

    def variable(self, key, value, indent=0):
        if isinstance(value, (list, tuple)):
            value = " ".join(v for v in value if v)
        self.output.write("  " * indent + "%s = %s\n" % (key, value))

    def rule(self, name, command, description=None, depfile=None, deps=None,
             generator=False, pool=None, restat=False):
        self.output.write("rule %s\n" % name)
        self.variable("command", command, indent=1)
        if description:
            self.variable("description", description, indent=1)
        if depfile:
            self.variable("depfile", depfile, indent=1)
        if deps:
            self.variable("deps", deps, indent=1)
        if generator:
            self.variable("generator", "1", indent=1)
        if pool:
            self.variable("pool", pool, indent=1)
        if restat:
            self.variable("restat", "1", indent=1)

    def build(self, outputs, rule, inputs=None, implicit=None, order_only=None,
              variables=None):
        outputs = _as_list(outputs)
        line = "build %s: %s" % (" ".join(map(escape_path, outputs)), rule)
        if inputs:
            line += " " + " ".join(map(escape_path, _as_list(inputs)))
        if implicit:
            line += " | " + " ".join(map(escape_path, _as_list(implicit)))
        if order_only:
            line += " || " + " ".join(map(escape_path, _as_list(order_only)))
        self.output.write(line + "\n")
        for key, value in sorted((variables or {}).items()):
            self.variable(key, value, indent=1)

    def default(self, paths):
        self.output.write("default %s\n" % " ".join(_as_list(paths)))


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
