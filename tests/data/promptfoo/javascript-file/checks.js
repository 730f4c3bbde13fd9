module.exports = (output, context) => output.length > 0 && output.length < 2000;
module.exports.mentionsSubject = (output, context) => {
  const ok = output.toLowerCase().includes(context.vars.subject);
  return { pass: ok, score: ok ? 1 : 0, reason: ok ? 'mentions the subject' : 'subject missing' };
};
