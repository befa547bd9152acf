// Chinook, MariaDB → PostgreSQL: all 11 tables, PascalCase tables and columns on the legacy side
// (Chinook_MySql.sql), snake_case on the new side (Chinook_PostgreSql.sql). Started from what
// `tandem init --source … --target …` wrote for these two databases, then folded into one helper per table.
// Run it with ./run.sh (see README.md): it needs SOURCE_URL and TARGET_URL.
import { defineConfig, renameColumns, snakeCase, type EntityConfig, type Row } from 'tandem';

function env(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: it must be the URL of ${what} (see examples/chinook/README.md)`);
  return v;
}

/**
 * Chinook's PostgreSQL script writes every string as N'…', a `character` literal, and PostgreSQL drops the
 * trailing blanks of a `character` value when it is stored in a VARCHAR column. MariaDB keeps them: the
 * legacy side has 'Edinburgh ' (customer 54 and that customer's invoices) where Chinook's own PostgreSQL data has
 * 'Edinburgh'. The new side follows PostgreSQL's data, so strings lose their trailing blanks on the way.
 */
function dropTrailingBlanks(_source: Row, mapped: Row): Row {
  for (const [column, value] of Object.entries(mapped))
    if (typeof value === 'string') mapped[column] = value.replace(/ +$/, '');
  return mapped;
}

/**
 * One entity per Chinook table: legacy table `Table` (PascalCase) → new table `table` (snake_case), every listed
 * column renamed the same way (`BillingPostalCode` → `billing_postal_code`). Chinook has no version column:
 * the apply is last-writer-wins, which is what a one-off copy needs.
 */
function table(name: string, key: string | string[], columns: string[]): EntityConfig {
  return {
    table: name,
    key,
    targets: [{ table: snakeCase(name), columns: renameColumns(columns), transform: dropTrailingBlanks }],
  };
}

export default defineConfig({
  source: env('SOURCE_URL', 'the MariaDB database loaded from Chinook_MySql.sql (mysql://user@host:3306/db)'),
  target: env(
    'TARGET_URL',
    'the PostgreSQL database holding the tables of Chinook_PostgreSql.sql (postgres://user@host:5432/db)',
  ),
  // No `order`: Tandem fills parents first from the target's foreign keys (artist before album before track, …).
  // employee.reports_to references employee itself; backfill copies in key order and every manager's
  // EmployeeId is lower than their reports', so the rows arrive parents first.
  entities: {
    artist: table('Artist', 'ArtistId', ['ArtistId', 'Name']),
    album: table('Album', 'AlbumId', ['AlbumId', 'Title', 'ArtistId']),
    genre: table('Genre', 'GenreId', ['GenreId', 'Name']),
    media_type: table('MediaType', 'MediaTypeId', ['MediaTypeId', 'Name']),
    track: table('Track', 'TrackId', [
      'TrackId',
      'Name',
      'AlbumId',
      'MediaTypeId',
      'GenreId',
      'Composer',
      'Milliseconds',
      'Bytes',
      'UnitPrice',
    ]),
    playlist: table('Playlist', 'PlaylistId', ['PlaylistId', 'Name']),
    // the only composite key: (PlaylistId, TrackId)
    playlist_track: table('PlaylistTrack', ['PlaylistId', 'TrackId'], ['PlaylistId', 'TrackId']),
    employee: table('Employee', 'EmployeeId', [
      'EmployeeId',
      'LastName',
      'FirstName',
      'Title',
      'ReportsTo',
      'BirthDate',
      'HireDate',
      'Address',
      'City',
      'State',
      'Country',
      'PostalCode',
      'Phone',
      'Fax',
      'Email',
    ]),
    customer: table('Customer', 'CustomerId', [
      'CustomerId',
      'FirstName',
      'LastName',
      'Company',
      'Address',
      'City',
      'State',
      'Country',
      'PostalCode',
      'Phone',
      'Fax',
      'Email',
      'SupportRepId',
    ]),
    invoice: table('Invoice', 'InvoiceId', [
      'InvoiceId',
      'CustomerId',
      'InvoiceDate',
      'BillingAddress',
      'BillingCity',
      'BillingState',
      'BillingCountry',
      'BillingPostalCode',
      'Total',
    ]),
    invoice_line: table('InvoiceLine', 'InvoiceLineId', [
      'InvoiceLineId',
      'InvoiceId',
      'TrackId',
      'UnitPrice',
      'Quantity',
    ]),
  },
});
