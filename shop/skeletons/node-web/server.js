import express from 'express';

const app = express();
const port = Number(process.env.PORT ?? 3000);

app.get('/', (_req, res) => {
  res.type('html').send('<!doctype html><title>Hello</title><h1>It works</h1><p>Start building here.</p>');
});

app.listen(port, () => console.log(`listening on http://localhost:${port}`));
