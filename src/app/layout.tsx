import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { SignOutButton } from './_components/sign-out-button.tsx';
import './globals.css';

export const metadata: Metadata = {
  title: 'Backups · Ops',
  description: 'Scheduled, verifiable database backups of your deployments.',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <a className="brand" href="/backups">
            Ops · Backups
          </a>
          <nav>
            <a href="/backups">Overview</a>
          </nav>
          <span className="spacer" />
          <SignOutButton />
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
